"""Trains ResNet18 on CIFAR-10 (32 x 32 images), as kuangliu/pytorch-cifar's main.py does."""

import torchvision
import torchvision.transforms as transforms

from resnet import ResNet18

transform_train = transforms.Compose(
    [
        transforms.RandomCrop(32, padding=4),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
    ]
)


def main():
    trainset = torchvision.datasets.CIFAR10(root="./data", train=True, transform=transform_train)
    net = ResNet18()
    return trainset, net


if __name__ == "__main__":
    main()
