r"""The typeset (LaTeX) form of every registered formula, for docs/formulas.md.

Why a second form: the registry's one-line `equation` is what the terminal (`estimate`,
`--explain`) and the JSON print, so it stays plain text; on the docs site the same equation is
typeset by KaTeX from the LaTeX below. Each entry transcribes its formula's plain equation,
symbol for symbol (same letters, same parts, nothing added), so the two can be read side by
side. A formula that is an algorithm rather than an equation (a walk in autograd's order, a
lookup, a greedy partition) is listed in `PROSE` instead, and the page shows its plain text in
code; `tests/formulas/test_latex.py` checks that every registered formula is in exactly one of
the two and that every entry here renders with KaTeX. A new formula may instead carry its
LaTeX in its own decorator: `@formula(name, equation, source, latex=r"...")`.
"""

from __future__ import annotations

# Shorthands used below: \mathit{hd} head dim, \mathit{kv} KV heads, d_{\mathit{ff}} MLP width.
_DT = r"\,\text{dtype\_bytes}"
_TRAIN = r"\\ F_{\text{train}} &= 3\,F_{\text{fwd}}"

LATEX: dict[str, str] = {
    # ---- activations (families/) ------------------------------------------------------------
    "activations.conv1d": (
        r"\begin{aligned} A &= \text{ids} + \sum_l \big(b\,c_{\text{in}}\,(s + \text{pad})\,p"
        r" + b\,c\,s_{\text{out}}\,p\ (+\,\text{mask})\big) \\ &\quad + \text{head input}"
        r" + \text{autocast weights}\quad\text{(each made as its layer runs)} \\"
        r" &\text{backward walked } (\texttt{activations.conv1d\_backward}) \end{aligned}"
    ),
    "activations.hybrid": (
        r"\begin{aligned} A &= \text{stem (no head, less its last dropout output)}"
        r" + \text{blocks at } n/S \quad (h_0 = \text{the fp32 hand-over}) \\"
        r" A_{\text{late}} &= \max\big(\text{blocks' first layer} + \text{stem},\ "
        r"\text{stem's walk with the hand-over's gradient}\big) \end{aligned}"
    ),
    "activations.resnet": (
        r"\begin{aligned} A &= \text{image} + \underbrace{2\,b\,c_0\,n^2\,p}_{\text{stem}}"
        r" + \sum_{\text{blocks}} \big(4\ (+1 \text{ shortcut})\big)\,b\,c\,\text{side}^2\,p"
        r" + \text{BN stats} + \text{pooled} \\ &\text{backward walked block by block"
        r" (pool, ReLU, BN, conv gradients)} \end{aligned}"
    ),
    "activations.transformer": (
        r"\begin{aligned} A &= \sum_{\text{layers}} \big(2\,\text{norm} + \text{attn}"
        r" + \text{mlp} + 2\,s\,b\,h\,p_{\text{res}}\ (+\,2\,s\,b\,h\,m \text{ dropout})\big) \\"
        r" &\quad \text{math attention: } +\,b\,a\,s^2\,p \end{aligned}"
    ),
    "activations.vit": (
        r"\begin{aligned} A &= \texttt{activations.transformer} \text{ at } T = (n/p)^2 + 1"
        r" \quad\text{(encoder, no mask)} \\ &\quad + b\,C\,n^2\,p \quad\text{(the image the"
        r" patch conv saves; under autocast + its weight cast, the fp32 image in forward)}"
        r" \end{aligned}"
    ),
    "activations.encoder_decoder": (
        r"\begin{aligned} A &= L_e\,\big(\text{attn}(n) + \text{mlp}(n) + 2\,\text{norm}"
        r" + 2\,b\,n\,h\,4\big) + L_d\,\big(\text{attn}(n_d) + \text{cross}(n_d, n)"
        r" + \text{mlp}(n_d) + 3\,\text{norm} + 3\,b\,n_d\,h\,4\big) \\"
        r" &\quad + b\,n\,h\,4\ (+\,2\,L_d\,b\,n\,h\,p \text{ autocast k/v casts})"
        r" + \text{logits} + \text{loss} \end{aligned}"
    ),
    # ---- advise -----------------------------------------------------------------------------
    "advise.designs": (
        r"\begin{aligned} &\text{stem: } n/S \text{ attended},\quad L = \max\Big(\text{layers},"
        r" \Big\lceil \big\lceil (d - r_{\text{stem}})/S \big\rceil / w \Big\rceil\Big) \\"
        r" &\text{local/global: window } w, \text{ every 3rd layer global} \\"
        r" &\text{peak} = \texttt{memory.training\_peak} \text{ of each design} \end{aligned}"
    ),
    "advise.guide": (
        r"\begin{aligned} \text{quadrant} &= \big(d > 256,\ B\,h\,n^2\,\text{bytes}\cdot 8"
        r" \le \text{memory}\big) \\ \text{regime} &: \text{by } n \\"
        r" t_{\text{RNN}} &= n\,t_{\text{step}} \end{aligned}"
    ),
    # ---- attention --------------------------------------------------------------------------
    "attention.ffn_activations": r"\text{bytes} = B\,n\,d_{\mathit{ff}}" + _DT,
    "attention.logits": r"\text{bytes} = B\,n\,\text{vocab}\,(\text{compute\_bytes} + 4)",
    "attention.matrix": r"\text{bytes} = B\,h\,n^2" + _DT,
    "attention.qkv_activations": r"\text{bytes} = 3\,B\,n\,d" + _DT,
    "attention.scores": (
        r"\text{bytes} = \begin{cases} B\,h\,n_q\,n_k" + _DT + r" & \text{math} \\"
        r" 0 & \text{flash / efficient} \end{cases}"
    ),
    "attention.window_saving": (
        r"\frac{\text{full}}{\text{windowed}} = \frac{n^2}{n\,w} = \frac{n}{w}"
    ),
    # ---- flops ------------------------------------------------------------------------------
    "flops.article_attention_macs": r"\text{MACs} = n^2\,d_k \quad (\text{one head}, QK^\top)",
    "flops.article_ffn_macs": r"\text{MACs} = 2\,n\,d\,d_{\mathit{ff}}",
    "flops.article_rnn_macs": r"\text{MACs} = n\,d^2 \quad (\text{recurrent matrix only})",
    "flops.attention_core": (
        r"F = 2 \cdot 2\,B\,h\,n_q\,n_k\,\mathit{hd} \quad (QK^\top + AV);"
        r"\quad \text{causal full: } /\,2"
    ),
    "flops.attention_keys": (
        r"n_{\text{keys}} = \begin{cases} n & \text{full} \\ \min(n, w) \text{ causal},\ "
        r"\min(n, 2w) \text{ bidirectional} & \text{sliding} \\ \min(n, 2w) \ /\ \min(n, 3w)"
        r" & \text{local} \end{cases}"
    ),
    "flops.conv_output_length": (
        r"\begin{aligned} n_{\text{out}} &= \left\lfloor \frac{n + \text{pad} - \text{dil}\,"
        r"(k-1) - 1}{s} \right\rfloor + 1 \\ \text{pad} &= \text{dil}\,(k-1)"
        r" \quad \text{(same / causal)} \end{aligned}"
    ),
    "flops.conv_stack": (
        r"\begin{aligned} F_{\text{fwd}} &= \sum_l 2\,B\,n_{\text{out},l}^{\,\text{dims}}\,"
        r"c_{\text{in}}\,c_{\text{out}}\,k^{\text{dims}} + \text{head}" + _TRAIN + r" \end{aligned}"
    ),
    "flops.encoder_decoder": (
        r"\begin{aligned} F_{\text{fwd}} &= \text{stem} + L_e\big(\text{dense}(T_e)"
        r" + \text{core}(n_e, n_e)\big) \\ &\quad + L_d\big(\text{dense}(T_d)"
        r" + \text{core}(n_d, n_d) + \text{cross}_{q,o}(T_d) + \text{cross}_{k,v}(T_e)"
        r" + \text{core}(n_d, n_e)\big) \\ &\quad + 2\,T_d\,d\,V" + _TRAIN + r" \end{aligned}"
    ),
    "flops.hybrid": r"F = \sum_{\text{stages}} F_{\text{stage}}(n_{\text{stage}})",
    "flops.linear_attention_core": (
        r"F = 2 \cdot 2\,B\,h\,n\,\mathit{hd}^2 \quad"
        r" \big(\phi(K)^\top V, \text{ then } \phi(Q)\,(K^\top V)\big)"
    ),
    "flops.matmul": r"F = 2\,m\,k\,n",
    "flops.recurrent": (
        r"\begin{aligned} F_{\text{fwd}} &= B\,n \sum_l \text{dirs}\cdot\text{gates}\cdot 2\,"
        r"(\text{in}_l + H)\,H + 2\,B\,n\,H\,\text{dirs}\,\text{out}" + _TRAIN + r" \end{aligned}"
    ),
    "flops.resnet": (
        r"\begin{aligned} F_{\text{fwd}} &= \sum_{\text{convs}} 2\,B\,\text{side}_{\text{out}}^2"
        r"\,c_{\text{in}}\,c_{\text{out}}\,k^2 + 2\,B\,c\,\text{classes}"
        + _TRAIN
        + r" \end{aligned}"
    ),
    "flops.transformer": (
        r"\begin{aligned} F_{\text{fwd}} &= L\,F_{\text{layer}} + 2\,B\,n\,d\,\text{vocab}"
        + _TRAIN
        + r" \quad (\text{flop\_counter: core} \times 3.5) \end{aligned}"
    ),
    "flops.transformer_decode_step": (
        r"F = L\big(2B\,d\,(q + 2\,\mathit{kv}) + 2B\,q\,d + 4B\,h\,\text{ctx}\,\mathit{hd}"
        r" + \text{mlp}\big) + 2B\,d\,\text{vocab}"
    ),
    "flops.transformer_layer": (
        r"F = 2T\,d\,(q + 2\,\mathit{kv}) + 2T\,q\,d + \text{core}"
        r" + 2T\,d\,d_{\mathit{ff}}\cdot(2 \mid 3)"
    ),
    "flops.vit": (
        r"\begin{aligned} F_{\text{fwd}} &= 2\,B\,P\,d\,C\,p^2 + L\big(\text{dense}(B\,T)"
        r" + 4\,B\,a\,T^2\,\mathit{hd}\big) + \text{pooler} + \text{head}"
        + _TRAIN
        + r" \end{aligned}"
    ),
    # ---- kvcache ----------------------------------------------------------------------------
    "kvcache.article": (
        r"\text{bytes} = B\,h\,n\,d_k" + _DT + r" \quad (\text{article: one tensor, one layer})"
    ),
    "kvcache.kv_cache": (
        r"\text{bytes} = 2\cdot\text{layers}\cdot B\cdot\text{kv\_heads}\cdot n\cdot"
        r"\text{head\_dim}\cdot\text{dtype\_bytes}"
    ),
    "kvcache.recurrent_state": (
        r"\text{bytes} = \text{layers}\cdot\text{dirs}\cdot B\cdot\text{hidden}\cdot"
        r"\begin{cases} 2 & \text{LSTM} \\ 1 & \text{else} \end{cases}\cdot\text{dtype\_bytes}"
    ),
    # ---- latency ----------------------------------------------------------------------------
    "latency.conv_stack": (
        r"t = \sum_{\text{layers}} \Big(\max\big(F_l/\text{peak},\ (W_l + \text{acts}_l)/"
        r"\text{bw}\big) + \text{overhead}\Big) + \text{head}"
    ),
    "latency.hybrid": (
        r"t = \sum_{\text{stages}} t_{\text{stage}}(n_{\text{stage}});\quad"
        r" \text{with new\_tokens: } \texttt{latency.hybrid\_decode}"
    ),
    "latency.hybrid_decode": (
        r"\begin{aligned} t &= t_{\text{stem}}(n) + t_{\text{blocks}}(n_1 \text{ prefill},"
        r" \Delta \text{ decode steps over their KV cache}) \\ &\quad + \sum_{\text{layers}}"
        r" \Delta_l \cdot \text{roofline}\big(2\,b\,c_{\text{in}}\,c_{\text{out}}\,k,\ W_l"
        r" + b\,(k\,c_{\text{in}} + c_{\text{out}})\big) \\ \Delta_l &= L_l(n + T) - L_l(n)"
        r" \end{aligned}"
    ),
    "latency.recurrent": (
        r"t = n\cdot\text{layers}\cdot\big(\max(F_{\text{step}}/\text{peak},\ W_{\text{layer}}/"
        r"\text{bw}) + \text{overhead}\big) + \text{head}"
    ),
    "latency.roofline": r"t = \max\big(F/\text{peak\_flops},\ B/\text{bandwidth}\big)",
    "latency.sequential": (
        r"t = \text{steps}\cdot\big(\max(F_{\text{step}}/\text{peak},\ B_{\text{step}}/\text{bw})"
        r" + \text{overhead}\big)"
    ),
    "latency.transformer": (
        r"\begin{aligned} t_{\text{prefill}} &= \sum_{\text{layers}} \text{roofline}"
        r"(F_{\text{layer}},\ W_{\text{layer}} + \text{acts}) + \text{head} \\"
        r" t_{\text{decode}} &= \sum_{\text{tokens}} \sum_{\text{layers}} \text{roofline}"
        r"\big(F_{\text{dec}},\ W_{\text{layer}} + \text{KV}_{\text{layer}}(\text{ctx})\big)"
        r" \end{aligned}"
    ),
    # ---- layers, limits ---------------------------------------------------------------------
    "layers.local_global": (
        r"\begin{aligned} L_{\text{global}} &= \lfloor L/k \rfloor \quad (\text{layer } i"
        r" \text{ global when } (i+1) \bmod k = 0) \\ L_{\text{local}} &= L - L_{\text{global}}"
        r" \end{aligned}"
    ),
    "limits.attention_dominates": (
        r"n > 2\,d_{\mathit{ff}} \quad (n^2 d \text{ vs } 2\,n\,d\,d_{\mathit{ff}})"
    ),
    "limits.n_max": (
        r"n_{\max} = \max\{\, n = j\,g : \text{total\_bytes}(n) \le \text{budget},\ "
        r"n \le \text{upper} \,\}"
    ),
    "limits.sqrt_rule": (
        r"n_{\max} \approx \left\lfloor \sqrt{\frac{\text{budget}}{B\,h" + _DT + r"}} \right\rfloor"
    ),
    # ---- memory -----------------------------------------------------------------------------
    "memory.fsdp_per_rank": (
        r"\text{peak} = \frac{\text{params}}{S} + \frac{\text{optimizer}}{S} + \max"
        r"\begin{cases} \text{forward} + U_{\text{root}} \\ \text{backward} + U_{\text{root}}"
        r" + U_{\text{block}} + AG_{\text{block}} \\ \text{grads}/S + \text{step temporaries}"
        r" & \text{(optimizer)} \end{cases}"
    ),
    "memory.inference": (
        r"\text{bytes} = \frac{\text{weights at [infer] dtype}}{\text{tensor\_parallel}}"
        r" + \text{KV cache}"
    ),
    "memory.model_states": (
        r"\begin{aligned} M &= \underbrace{4P + \text{buffers}}_{\text{params}}"
        r" + \underbrace{4P}_{\text{grads}} + \underbrace{\text{optimizer}}"
        r"_{\texttt{memory.optimizer\_state}} \\ &\quad /\,\mathit{tp};\quad \text{ZeRO-}k"
        r"\text{: } /\,\mathit{dp} \end{aligned}"
    ),
    "memory.optimizer_state": (
        r"\text{bytes} = \begin{cases} 0 & \text{sgd} \\ 4P & \text{sgd-momentum} \\"
        r" 8P + 4\cdot\text{tensors} & \text{adam / adamw} \\ 4\cdot\text{factored}"
        r" + 4\cdot\text{tensors} & \text{adafactor} \end{cases}"
    ),
    "memory.parallel_upper_bound": (
        r"\text{peak}_{\text{rank}} \le \text{peak of the same layout at } \mathit{tp} = 1"
        r"\text{, fp32 FSDP parameters and compute}"
    ),
    "memory.tensor_parallel": (
        r"\begin{aligned} \text{peak}_{\text{rank}} &= \text{peak}\big(\text{layout at }"
        r" \mathit{tp} = 1;\ \tfrac{\text{heads}}{\mathit{tp}},\ \tfrac{\text{kv\_heads}}"
        r"{\mathit{tp}},\ \tfrac{d_{\mathit{ff}}}{\mathit{tp}}\big) \\ &\text{sharded: q, k, v,"
        r" scores, attention output, MLP hidden} \\ &\text{replicated: residual stream, norms,"
        r" embeddings, head} \end{aligned}"
    ),
    "memory.training_peak": (
        r"\text{peak} = \max_{\text{phase}} \sum \text{parts alive},\quad \text{phase} \in"
        r" \{\text{forward, backward, late-backward, end-of-backward, optimizer step}\}"
    ),
    # ---- params -----------------------------------------------------------------------------
    "params.active": (r"P_{\text{active}} = P - L\,(\text{experts} - k)\,P_{\text{expert}}"),
    "params.attention": (
        r"P = 2\,d\,h\,\mathit{hd} + 2\,d\,\mathit{kv}\,\mathit{hd} + \text{biases}(q{:}\ h\,"
        r"\mathit{hd};\ k, v{:}\ \mathit{kv}\,\mathit{hd};\ o{:}\ d)"
    ),
    "params.conv": (
        r"P = c_{\text{out}}\,c_{\text{in}}\,k^{\text{dims}} + c_{\text{out}}\ (\text{bias})"
    ),
    "params.conv_stack": (
        r"P = \text{vocab}\,d + \sum_l \text{conv}(c_{l-1}, c_l, k_l) + \text{head}(c_L \to"
        r" \text{out}, \text{bias})"
    ),
    "params.embedding": r"P = \text{vocab}\,d",
    "params.from_shapes": r"P = \sum_{\text{tensors}} \prod \text{shape}",
    "params.linear": (
        r"P = d_{\text{in}}\,d_{\text{out}} + \begin{cases} d_{\text{out}} & \text{bias} \\ 0"
        r" & \text{no bias} \end{cases}"
    ),
    "params.mlp": (
        r"P = \begin{cases} 2\,d\,d_{\mathit{ff}}\ (+\,d_{\mathit{ff}} + d) & \text{gelu / relu}"
        r" \\ 3\,d\,d_{\mathit{ff}}\ (+\,2\,d_{\mathit{ff}} + d) & \text{swiglu} \end{cases}"
    ),
    "params.norm": (
        r"P = \begin{cases} 2d\ \ (d \text{ without bias}) & \text{LayerNorm} \\ d &"
        r" \text{RMSNorm} \end{cases}"
    ),
    "params.positions": (
        r"P = \begin{cases} (\text{max\_positions} + \text{offset})\,d & \text{learned} \\ 0"
        r" & \text{sinusoidal / rotary / alibi / relative / none} \end{cases}"
    ),
    "params.recurrent": (
        r"\begin{aligned} P &= \text{vocab}\,d + \sum_l \text{layer}(\text{input}_l)"
        r" + \text{head}(\text{hidden}\cdot\text{dirs} \to \text{vocab}, \text{bias}) \\"
        r" \text{input}_{l>0} &= \text{hidden}\cdot\text{dirs} \end{aligned}"
    ),
    "params.recurrent_layer": (
        r"P = \text{dirs}\cdot\text{gates}\cdot\big(\text{hidden}\,(\text{input}"
        r" + \text{hidden}) + 2\,\text{hidden}\big)"
    ),
    "params.transformer": (
        r"P = \text{vocab}\,d + \text{pos} + L\,P_{\text{layer}} + \text{norm}"
        r" + \begin{cases} 0 & \text{tied} \\ d\,\text{vocab} & \text{else} \end{cases}"
    ),
    "params.transformer_layer": (
        r"P_{\text{layer}} = \text{attention} + \text{mlp} + 2\,\text{norm}"
    ),
    # ---- path -------------------------------------------------------------------------------
    "path.attention": (
        r"\begin{cases} \text{reach unlimited, path } 1 & \text{full / linear} \\"
        r" \text{reach } L\,w,\ \text{path } \lceil d/w \rceil & \text{sliding / local } w"
        r" \end{cases}"
    ),
    "path.conv_layer_reach": (
        r"r = \begin{cases} \lfloor \text{dil}\,(k-1)/2 \rfloor & \text{centered} \\"
        r" \text{dil}\,(k-1) & \text{causal} \end{cases}"
    ),
    "path.conv_path_length": (
        r"L' = \min\Big\{ L' : \sum_{l \le L'} r_l \prod_{i<l} s_i \ge d \Big\}"
    ),
    "path.conv_reach": r"\text{reach} = \sum_l r_l \prod_{i<l} s_i",
    "path.decay": r"g = \rho^{\,\text{steps}}",
    "path.effective_padding": r"P = \sum_l p_l \prod_{i<l} s_i",
    "path.effective_stride": r"S = \prod_l s_l",
    "path.hybrid": (
        r"\begin{aligned} \text{reach} &= r_{\text{stem}} + S\cdot\text{reach}_{\text{blocks}}"
        r" \quad (\text{unlimited if the blocks' is}) \\ \text{path} &= \text{stem layers}"
        r" + \text{blocks' path for } \lceil (d - r_{\text{stem}})/S \rceil \\ \text{steps} &="
        r" \sum \text{stage steps} \end{aligned}"
    ),
    "path.image_receptive_field": (
        r"\begin{aligned} R &= 1 + \sum_l \text{dil}_l\,(k_l - 1) \prod_{i<l} s_i \\"
        r" S &= \prod_l s_l \\ \text{reach} &= \lfloor (R-1)/2 \rfloor \end{aligned}"
    ),
    "path.layers_for_radius": r"L = \lceil d / r \rceil",
    "path.layers_for_receptive_field": (
        r"L = \left\lceil \frac{d - 1}{\text{dil}\,(k - 1)} \right\rceil \quad"
        r" (R = 1 + (k-1)\,L \ge d)"
    ),
    "path.layers_needed": (
        r"L = \lceil d / r \rceil,\quad r = \begin{cases} \lfloor \text{dil}\,(k-1)/2 \rfloor"
        r" & \text{centered} \\ \text{dil}\,(k-1) & \text{causal} \end{cases}"
    ),
    "path.receptive_field": (r"R = \sum_l \text{dil}_l\,(k_l - 1) \prod_{i<l} s_i + 1"),
    "path.receptive_field_simple": (
        r"R = 1 + (k-1)\,L;\quad \text{with dilations } R = 1 + (k-1) \sum_l \text{dil}_l"
    ),
    "path.recurrent": (
        r"\text{reach unlimited};\ \text{path length } d;\ \text{sequential steps } n;\ "
        r"\text{gradient horizon} = \text{bptt}"
    ),
    # ---- runtime (kernel semantics) ---------------------------------------------------------
    "runtime.cublas_workspace": (
        r"W = \begin{cases} \sum \text{SIZE}\cdot 1024\cdot\text{COUNT} &"
        r" \texttt{CUBLAS\_WORKSPACE\_CONFIG} \text{ set} \\ 32\ \text{MiB} & \text{sm90+} \\"
        r" 8\ \text{MiB} + 128\ \text{KiB} & \text{else} \end{cases}"
    ),
    "runtime.cuda_alloc_size": (r"\text{bytes} = \max\big(512,\ 512\,\lceil n/512 \rceil\big)"),
    "runtime.cuda_allocator_overhead": (
        r"2\cdot\text{cublas\_workspace} + \sum_{\text{params (and Adam moments, grads)}}"
        r" \big(\text{round}_{512}(4k) - 4k\big)"
    ),
    "runtime.onednn_lstm_workspace": (
        r"\begin{aligned} &\text{page-aligned parts:} \\ &\text{gates } T\,B\,\text{ld}(4H)\,e,"
        r"\quad h_t\ T\,B\,\text{ld}(H)\,e,\quad \text{states } 2(T+1)\,B\,\text{ld}(\max(I,H))"
        r"\,e,\quad c\ 2(T+1)\,B\,H\,e, \\ &\text{diff states } 2 \times 2(T+1)\,B\,"
        r"\text{ld}_4(\max(I,H))\cdot 4,\quad \text{diff } c\ 2(T+1)\,B\,H\cdot 4 \end{aligned}"
    ),
    "runtime.step_temporaries": (
        r"\text{bytes} = \begin{cases} 4P & \text{Adam / AdamW, cuda foreach} \\"
        r" \max_i 4\,(2\,k_i + k_{i-1}) & \text{Adam / AdamW, cpu loop} \\ 0 & \text{SGD"
        r" (in place)} \\ 4P & \text{Adafactor, cuda} \\ \max_i 4\,(\text{var}_i"
        r" + \text{rows}_i + \text{cols}_i + \text{prev}) & \text{Adafactor, cpu} \end{cases}"
    ),
    # ---- sensitivity, sharding, states, vit -------------------------------------------------
    "sensitivity.elasticity": (
        r"e = \frac{\ln\big(\text{peak}(k') / \text{peak}(k)\big)}{\ln(k'/k)},\quad k' = k/2:"
        r"\quad \text{peak} \propto k^e \text{ near } k"
    ),
    "sharding.fsdp_all_gather_buffer": (
        r"\text{bytes} = 4\,S \sum_{\text{params}} \lceil d_0 / S \rceil \prod_{i \ge 1} d_i"
        r" \quad (\text{one flat buffer per group})"
    ),
    "sharding.fsdp_shard": (
        r"\text{elements per rank} = \lceil d_0 / S \rceil \prod_{i \ge 1} d_i"
    ),
    "sharding.fsdp_unsharded": (
        r"\text{bytes} = \sum_{\text{params}} 4\,S\,\lceil d_0 / S \rceil \prod_{i \ge 1} d_i"
        r" \quad (\text{one tensor per parameter})"
    ),
    "states.adafactor_elements": (
        r"\sum_{\text{matrices}} \prod(\text{lead})\,(r + c) + \sum_{\text{vectors}} n"
    ),
    "states.deepspeed_zero3": (
        r"\begin{aligned} \text{GPU} &= 4\cdot\text{largest} + \{18P/\text{gpus} \mid"
        r" 2P/\text{gpus} \mid 0\} \\ \text{CPU} &= P\cdot\{18 \mid 16\}\cdot"
        r" 1.5/\text{nodes} \ \text{ or } \ P\cdot 4\cdot\text{gpus\_per\_node}\cdot 1.5"
        r" \end{aligned}"
    ),
    "states.inference_weights": (r"\text{bytes} = P" + _DT + r" / \mathit{tp}"),
    "states.model_states": (
        r"\begin{aligned} \text{fp32} &: 4P + 4P + 4\,S \\ \text{mixed} &: 2P + 2P"
        r" + (4P + 4\,S) \\ &\text{ZeRO-}k\text{: } /\,\text{world\_size};\quad"
        r" \text{all: } /\,\mathit{tp} \end{aligned}"
    ),
    "states.optimizer_elements": (
        r"\begin{cases} 0 & \text{sgd} \\ P & \text{sgd-momentum} \\ 2P & \text{adam / adamw}"
        r" \\ \text{factored} & \text{adafactor} \end{cases}"
    ),
    "vit.positions": (r"T = \lfloor n / \text{patch} \rfloor^2 + \text{class\_token}"),
}

# Algorithms, lookups and dispatches: their plain text is shown (in code), not typeset.
PROSE: frozenset[str] = frozenset(
    {
        "activations.conv1d_backward",  # a walk in autograd's order
        "activations.lstm",  # a walk of oneDNN's LSTM
        "activations.recurrent",  # which walk, by cell type
        "devices.lookup",  # a name lookup
        "path.residual_conv_path_length",  # a search over which blocks a path skips
        "path.conv",  # names the four formulas it combines
        "sharding.zero1_partition",  # a greedy partition
    }
)
