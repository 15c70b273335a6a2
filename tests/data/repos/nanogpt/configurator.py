# Reads `python train.py config/x.py --key=value`: exec's the config file into train.py's globals.
import sys

for arg in sys.argv[1:]:
    if not arg.startswith("--"):
        exec(open(arg).read())
