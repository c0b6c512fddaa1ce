"""The memory planner: the expected peak of a training run, from the model's shape and the
run's settings, split into what holds it, with a verdict for a memory budget.

Torch-free arithmetic (the GUI calls it on its thread; reading the shape is
core.model.shapes'). Every term follows what the code allocates (docs/memory.md derives
them and lists the measured error):

- weights: the one copy of the base model (policy, reference with the adapter off, and
  PPO's critic share it), in the compute dtype, or 8/4-bit for the projections;
- LoRA + optimiser: adapter weights in float32 (PEFT keeps them so), their gradients and
  AdamW's two moments: 16 bytes per trainable weight (PPO's value head too);
- activations: what autograd keeps for the backward pass of one minibatch, counted per
  token and layer from the saved tensors (or each layer's input alone with gradient
  checkpointing, plus one layer recomputed);
- logits: the (rows, Tr + 1, V) logits of the update pass (float32 copy, log-sum-exp
  and its backward's temporaries), or of the no-grad scoring pass when that is larger;
- generation cache: keys and values of every layer while sampling the whole batch.

The peak is the weights plus the optimiser plus the largest phase: sampling (cache),
scoring (no-grad passes over rollout chunks) or the update (activations + logits).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core import algorithms as registry
from core.errors import StudioError
from core.model.shapes import ModelShape

if TYPE_CHECKING:
    from core.model.session import ModelSession

ON_POLICY = tuple(registry.on_policy())
OFFLINE = tuple(registry.offline())
ALGORITHMS = tuple(registry.ALGORITHMS)
"""The kinds the planner plans for: every registered algorithm (its PlanProfile)."""
QUANTIZE_CHOICES = ("none", "8bit", "4bit")
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}

QUANT_BYTES_PER_WEIGHT = {"none": None, "8bit": 1.0 + 4 / 4096, "4bit": 0.5 + 4 / 64}
"""Projection weights under bitsandbytes: int8 with a float32 scale per row (~4096
columns), NF4 with a float32 absmax per block of 64. Embeddings, norms and the output
head stay in the compute dtype."""
ADAM_BYTES_PER_WEIGHT = 16
"""A trainable float32 weight: itself, its gradient, AdamW's exp_avg and exp_avg_sq."""
UPDATE_LOGIT_COPIES = 4.0
"""(rows, Tr + 1, V) float32 tensors alive at the update's peak: the logits autograd keeps
for log-sum-exp's backward, and the backward's temporaries (exp(l - lse), the gathered
token's one-hot gradient, their sum). Checked with glibc's mmap threshold fixed (live
tensors only): one gpt2-small update pass peaked 7% above the planner's live total."""
SCORING_LOGIT_COPIES = 3.0
"""Float32 logits-sized tensors of a no-grad scoring pass: the logits, log-sum-exp's
exp(l - max), and the entropy's softmax (policy pass only)."""
CRITIC_FREE_SCORING_ROWS = 64
"""GRPO/RLOO score their rollouts in no-grad chunks of 64 rows (core.grpo.trainer)."""
CPU_HEAP_FACTOR = 1.1
"""On the CPU the resident size grows by a little more than the live tensors: the
rollout's freed blocks stay in glibc's heap, and so do the update pass's blocks under
128 KiB (core.model.host_memory returns the larger ones at once, for models of 768 MiB or more;
smaller ones keep glibc's heap, whose slack is then small in MiB). Measured over a whole step
(bench/memory.py --planner-check, docs/memory.md): 0.9-1.3x the live tensors of the peak
phase, 1.0 on the largest; before core.model.host_memory it was 1.6x. The GPU allocator's peak
counts live tensors only."""
CUDA_CONTEXT_BYTES = 600 * 2**20
"""What a CUDA process holds outside the allocator (context, cuBLAS workspace); added to
verdicts on a GPU, not to the allocator peak."""
CPU_RUNTIME_BYTES = 450 * 2**20
"""Resident size of the imported libraries (torch, transformers, peft) before any model:
added to verdicts on the CPU, not to the peak above that baseline."""


class PlanError(StudioError):
    """Settings the planner cannot plan for."""


@dataclass(frozen=True)
class PlanRequest:
    """A run to plan: algorithm, precision, adapter, batch shapes and memory options."""

    algorithm: str = registry.DEFAULT_KIND
    dtype: str = "float32"
    """Compute dtype: float32 | bfloat16 | float16."""
    quantize: str = "none"
    lora_r: int = 16
    batch_size: int = 32
    """On-policy: completions sampled per step; offline: examples per optimiser step."""
    mini_batch_size: int = 16
    """Rows of one gradient pass: PPO's minibatch, the offline trainers' micro-batch."""
    prompt_tokens: int = 64
    """Longest prompt of a batch (prompts are left-padded to it)."""
    response_tokens: int = 32
    """On-policy: max_new_tokens; offline: max_response_tokens."""
    gradient_checkpointing: bool = False
    logits_chunk_size: int = 0
    """Response positions the output layer projects at a time (0: all at once): the
    chunked log-probs, where the build has PPOConfig.logits_chunk_size."""
    device: str = "cpu"

    def check(self) -> None:
        """Raise PlanError naming a setting the planner cannot take."""
        problems = []
        if self.algorithm not in ALGORITHMS:
            problems.append(f"algorithm '{self.algorithm}': choose {', '.join(ALGORITHMS)}")
        if self.dtype not in DTYPE_BYTES:
            problems.append(f"dtype '{self.dtype}': choose {', '.join(DTYPE_BYTES)}")
        if self.quantize not in QUANTIZE_CHOICES:
            problems.append(f"quantize '{self.quantize}': choose {', '.join(QUANTIZE_CHOICES)}")
        sizes = ("lora_r", "batch_size", "mini_batch_size", "prompt_tokens", "response_tokens")
        problems += [f"{name} must be at least 1" for name in sizes if getattr(self, name) < 1]
        if problems:
            raise PlanError("Cannot plan: " + "; ".join(problems) + ".")


@dataclass(frozen=True)
class MemoryPlan:
    """Bytes per term at the expected peak, and the phase that peaks."""

    weights: int
    lora_and_optimizer: int
    activations: int
    logits: int
    generation_cache: int
    peak_phase: str
    """sampling | scoring | update: the phase the peak falls in."""
    phases: dict[str, int] = field(default_factory=dict)
    """Bytes of each phase above weights + optimiser."""
    allocator_slack: int = 0
    """CPU only: heap the allocator keeps beyond the live tensors at the peak phase."""
    runtime: int = 0
    """Outside the peak: the CUDA context, or the CPU libraries' resident size."""

    @property
    def peak(self) -> int:
        """Expected peak above the post-import baseline (CPU) / allocator peak (GPU)."""
        phase = max(self.phases.values(), default=0)
        return self.weights + self.lora_and_optimizer + phase + self.allocator_slack

    @property
    def needed(self) -> int:
        """What the device must have free: the peak plus the runtime outside it."""
        return self.peak + self.runtime

    def parts(self) -> list[tuple[str, int]]:
        """(term, bytes), the display order."""
        return [
            ("weights", self.weights),
            ("LoRA + optimiser", self.lora_and_optimizer),
            ("activations", self.activations),
            ("logits", self.logits),
            ("generation cache", self.generation_cache),
        ] + ([("allocator slack (CPU)", self.allocator_slack)] if self.allocator_slack else [])

    def describe(self) -> str:
        """One line: the peak and its terms (activations and logits at the update)."""
        terms = ", ".join(f"{name} {format_bytes(size)}" for name, size in self.parts())
        return f"peak ≈ {format_bytes(self.peak)} in {self.peak_phase} ({terms})"

    def verdict(self, budget_bytes: int, budget_name: str | None = None) -> str:
        """'fits in 12 GiB: yes, 9.1 GiB' (or 'no, needs ...') for a budget."""
        name = budget_name or format_bytes(budget_bytes, decimals=0)
        needed = format_bytes(self.needed)
        if self.needed <= budget_bytes:
            return f"fits in {name}: yes, {needed}"
        return f"fits in {name}: no, needs {needed}"


def plan_memory(shape: ModelShape, request: PlanRequest) -> MemoryPlan:
    """The expected peak of `request` on a model of `shape` (see the module docstring)."""
    request.check()
    width = DTYPE_BYTES[request.dtype]
    update = _update_bytes(shape, request, width)
    phases = {"update": update[0] + update[1]}
    cache = 0
    if request.algorithm in ON_POLICY:
        cache = _generation_bytes(shape, request, width)
        phases["sampling"] = cache
    # on-policy: scoring the rollout; offline: the reference's pass, cached afterwards
    phases["scoring"] = _scoring_bytes(shape, request, width)
    peak_phase = max(phases, key=phases.__getitem__)
    activations, logits = update
    if peak_phase == "scoring":
        logits = max(logits, phases["scoring"])
    on_cpu = request.device == "cpu"
    slack = int(phases[peak_phase] * (CPU_HEAP_FACTOR - 1)) if on_cpu else 0
    return MemoryPlan(
        weights=weight_bytes(shape, request.dtype, request.quantize),
        lora_and_optimizer=lora_bytes(shape, request),
        activations=activations,
        logits=logits,
        generation_cache=cache,
        peak_phase=peak_phase,
        phases=phases,
        allocator_slack=slack,
        runtime=CUDA_CONTEXT_BYTES if request.device.startswith("cuda") else CPU_RUNTIME_BYTES,
    )


def weight_bytes(shape: ModelShape, dtype: str, quantize: str = "none") -> int:
    """The base model's weights: projections quantised or not, the rest in `dtype`."""
    width = DTYPE_BYTES[dtype]
    per_weight = QUANT_BYTES_PER_WEIGHT[quantize]
    if per_weight is None:
        return shape.params * width
    projections = shape.layers * shape.layer_linear_params
    rest = shape.params - projections
    return int(projections * per_weight) + rest * width


def lora_bytes(shape: ModelShape, request: PlanRequest) -> int:
    """LoRA weights on every projection (core.model.lora's targets) and PPO's value head, with
    gradients and AdamW moments, all float32."""
    adapter = shape.layers * sum(request.lora_r * (a + b) for a, b in shape.linear_shapes())
    value_head = shape.hidden + 1 if _profile(request).value_head else 0
    return (adapter + value_head) * ADAM_BYTES_PER_WEIGHT


def rows_per_pass(request: PlanRequest) -> int:
    """Rows of one gradient pass: the pair trainers put chosen and rejected through it
    together."""
    return request.mini_batch_size * _profile(request).rows_per_example


def _profile(request: PlanRequest) -> registry.PlanProfile:
    return registry.spec_of(request.algorithm).plan


def layer_activation_elements(shape: ModelShape, lora_r: int) -> int:
    """Elements autograd saves per token in one layer with LoRA on every projection
    (counted with saved_tensors_hooks; see docs/memory.md):

    Llama-style: both norms' input and output (4H), the attention output and o_proj's
    input (2H), rotated keys and values (2 kv), the MLP's gate, up, SiLU and product (4I),
    the LoRA A outputs (7r) and the attention's log-sum-exp (heads).
    GPT-2: LayerNorm inputs and outputs (4H), fused QKV (3H), c_proj's input (H), the
    tanh-GELU's five intermediate-sized tensors (5I), LoRA (4r), log-sum-exp (heads)."""
    h, i = shape.hidden, shape.intermediate
    if shape.is_gpt2:
        return 8 * h + 5 * i + 4 * lora_r + shape.heads
    return 6 * h + 2 * shape.kv_width + 4 * i + 7 * lora_r + shape.heads


def _update_bytes(shape: ModelShape, request: PlanRequest, width: int) -> tuple[int, int]:
    """(activations, logits) of one gradient pass over a minibatch."""
    rows = rows_per_pass(request)
    tokens = rows * (request.prompt_tokens + request.response_tokens)
    per_layer = layer_activation_elements(shape, request.lora_r) * width
    norm_upcast = 0 if width == 4 or shape.is_gpt2 else 2 * 2 * shape.hidden * 4
    per_layer += norm_upcast  # RMSNorm computes in float32: its input and output copies
    if request.gradient_checkpointing:  # layer inputs kept, one layer recomputed at a time
        activations = tokens * (shape.layers * shape.hidden * width + per_layer)
    else:
        activations = tokens * shape.layers * per_layer
    activations += tokens * 2 * shape.hidden * width  # final norm, embeddings' output
    logit_tokens = rows * (request.response_tokens + 1)
    if request.logits_chunk_size:
        chunk = rows * min(request.logits_chunk_size, request.response_tokens + 1)
        logits = int(chunk * shape.vocab * 4 * UPDATE_LOGIT_COPIES)
    else:
        model_dtype_copy = 0 if width == 4 else width  # the lm_head output before .float()
        logits = int(logit_tokens * shape.vocab * (4 * UPDATE_LOGIT_COPIES + model_dtype_copy))
    return int(activations), logits


def _scoring_bytes(shape: ModelShape, request: PlanRequest, width: int) -> int:
    """One no-grad pass over a chunk of rollout rows (or of the reference's rows)."""
    if _profile(request).chunked_scoring:
        rows = min(request.batch_size, CRITIC_FREE_SCORING_ROWS)
    else:
        rows = rows_per_pass(request)
    tokens = rows * (request.prompt_tokens + request.response_tokens)
    logit_tokens = rows * (request.response_tokens + 1)
    if request.logits_chunk_size:
        logit_tokens = rows * min(request.logits_chunk_size, request.response_tokens + 1)
    logits = logit_tokens * shape.vocab * (4 * SCORING_LOGIT_COPIES + (0 if width == 4 else width))
    hidden_states = 0
    if _profile(request).value_head:  # output_hidden_states for the value head
        hidden_states = (shape.layers + 1) * tokens * shape.hidden * width
    one_layer = tokens * (3 * shape.intermediate + 4 * shape.hidden) * width
    return int(logits + hidden_states + one_layer)


def _generation_bytes(shape: ModelShape, request: PlanRequest, width: int) -> int:
    """Keys and values of the whole batch at full length (plus one layer's growth copy),
    and the prefill's widest transient."""
    length = request.prompt_tokens + request.response_tokens
    per_layer = 2 * request.batch_size * length * shape.kv_width * width
    prefill = request.batch_size * request.prompt_tokens * 3 * shape.intermediate * width
    step_logits = request.batch_size * shape.vocab * 4 * 3
    return int(shape.layers * per_layer + per_layer + prefill + step_logits)


def format_bytes(n_bytes: float, decimals: int = 1) -> str:
    """GiB (2^30 bytes: a "12 GB" GPU has 12 GiB) from 1 GiB on, else MiB."""
    if n_bytes >= 2**30:
        return f"{n_bytes / 2**30:.{decimals}f} GiB"
    return f"{n_bytes / 2**20:.0f} MiB"


def request_for_config(
    algorithm: str,
    config: Any,
    lora_r: int,
    dtype: str,
    device: str,
    prompt_tokens: int = 64,
    quantize: str = "none",
) -> PlanRequest:
    """The request for a trainer config (PPO/GRPO/RLOO, or DPO/KTO/SFT's micro-batches and
    response length), with the memory options of the config and the base's `quantize`
    (a model setting, not a trainer one)."""
    offline = not registry.spec_of(algorithm).on_policy
    rows = config.micro_batch_size if offline else config.mini_batch_size
    response = config.max_response_tokens if offline else config.max_new_tokens
    return PlanRequest(
        algorithm=algorithm,
        dtype=dtype if dtype in DTYPE_BYTES else "float32",
        quantize=quantize,
        lora_r=lora_r,
        batch_size=config.batch_size,
        mini_batch_size=rows,
        prompt_tokens=prompt_tokens,
        response_tokens=response,
        gradient_checkpointing=bool(config.gradient_checkpointing),
        logits_chunk_size=int(config.logits_chunk_size),
        device=device,
    )


def budget_of(memory: dict[str, Any]) -> tuple[int, str] | None:
    """(bytes, name) a loaded session's plan is judged against, from describe()'s memory:
    a GPU's free memory plus what this process holds there now; on the CPU, available RAM
    plus what this process holds above the libraries' baseline. None when unknown."""
    free = memory.get("device_free_bytes")
    if free is not None:
        budget = int(free) + int(memory.get("device_used_bytes") or 0)
        return budget, f"{memory.get('device')} ({format_bytes(budget)} free)"
    if memory.get("device") != "cpu":
        return None
    import psutil  # light: reads /proc/meminfo

    held = max(int(memory.get("process_rss_bytes") or 0) - CPU_RUNTIME_BYTES, 0)
    budget = int(psutil.virtual_memory().available) + held
    return budget, f"RAM ({format_bytes(budget)} free)"


def session_memory_line(
    session: ModelSession, config: Any, algorithm: str = registry.DEFAULT_KIND
) -> str:
    """The plan for a loaded session and run settings, as one line (the CLI's)."""
    from core.model.session import describe  # lazy: core.model.session pulls in torch

    info = describe(session)
    if info.get("shape") is None:
        return "memory estimate: unknown (the planner does not know this model's shape)"
    lora_r = session.spec.lora.r if session.spec.lora is not None else 16
    request = request_for_config(
        algorithm,
        config,
        lora_r,
        info["dtype"],
        info["device"],
        quantize=info.get("quantize", "none"),
    )
    plan = plan_memory(ModelShape(**info["shape"]), request)
    line = f"memory estimate (planner, ±25%): {plan.describe()} on {info['device']}"
    budget = budget_of(info.get("memory") or {})
    return line + (f"; {plan.verdict(*budget)}" if budget else "")
