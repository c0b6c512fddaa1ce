"""The PPO settings form: reward sources with weights, the main hyper-parameters with
tooltips, the rest of PPOConfig under a collapsed "Advanced" section, LoRA settings, and
presets."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from app.widgets.reward_table import RewardTable
from core.config import LoraSpec, PPOConfig

# name -> (PPOConfig overrides, LoRA (r, alpha), reward specs)
PRESETS: dict[str, tuple[dict, tuple[int, int], tuple[str, ...]]] = {
    "Demo: quick look (CPU, ~1 min)": (
        dict(
            steps=12,
            batch_size=8,
            mini_batch_size=8,
            ppo_epochs=2,
            max_new_tokens=16,
            learning_rate=1e-3,
            init_kl_coef=0.05,
            target_kl=4.0,
            checkpoint_every=0,
        ),
        (8, 16),
        ("sentiment",),
    ),
    "Demo: positive reviews (CPU, ~5 min)": (
        dict(
            steps=40,
            batch_size=16,
            mini_batch_size=8,
            ppo_epochs=4,
            max_new_tokens=24,
            learning_rate=5e-4,
            init_kl_coef=0.05,
            target_kl=6.0,
            checkpoint_every=10,
            eval_prompts=8,  # of the 40 demo prompts: the held-out curve shows transfer
        ),
        (16, 32),
        ("sentiment", "length=12@0.2"),
    ),
    "Small hub model on a GPU (SmolLM2 / Qwen2.5-0.5B)": (
        dict(
            steps=100,
            batch_size=32,
            mini_batch_size=8,
            ppo_epochs=4,
            max_new_tokens=48,
            learning_rate=1e-4,
            init_kl_coef=0.05,
            target_kl=6.0,
            checkpoint_every=20,
        ),
        (16, 32),
        ("sentiment",),
    ),
}
CUSTOM = "Custom"

TIPS = {
    "steps": "PPO steps. Each step samples one batch of responses, scores them, then runs "
    "several epochs of updates on that batch.",
    "batch_size": "Responses sampled per step. Larger = steadier updates, more memory.",
    "mini_batch_size": "Responses per optimiser minibatch; the batch size must be a multiple.",
    "ppo_epochs": "Passes over each batch. More squeezes more out of each sample but drifts "
    "further from the sampling policy (watch the clip fraction).",
    "learning_rate": "Adam learning rate of the LoRA weights and the value head.",
    "kl_mode": "adaptive: the KL coefficient is steered so KL approaches the target "
    "(Ziegler et al. 2019). fixed: the coefficient stays at its initial value.",
    "init_kl_coef": "Weight of the per-token KL penalty to the reference (adapter-off) model. "
    "Higher keeps the policy closer to the original model.",
    "target_kl": "Adaptive mode: the KL, in nats per response, the controller aims for. "
    "Drawn as a dashed line on the KL plot.",
    "max_new_tokens": "Response length limit during rollouts.",
    "temperature": "Sampling temperature of rollouts (and of their log-probs). Must be > 0.",
    "lora_r": "LoRA rank: size of the low-rank update. Changing it reloads the model with a "
    "fresh adapter when training starts.",
    "lora_alpha": "LoRA scaling numerator: the update is scaled by alpha / rank.",
    "lora_targets": "Module names to adapt, comma-separated; empty picks them from the "
    "architecture (e.g. c_attn for GPT-2, q_proj,v_proj for Llama).",
    "seed": "Seed of prompt order, sampling and initialisation: same seed, same run.",
    "checkpoint_every": "Save a checkpoint every N steps (0: only at the end and on stop).",
    "lr_schedule": "Learning rate over the run: constant, or a linear / cosine decay to 0 "
    "after the warmup.",
    "warmup_steps": "PPO steps of linear learning-rate warmup.",
    "gradient_accumulation_steps": "Minibatches whose gradients are averaged before one "
    "optimiser step.",
    "max_grad_norm": "Clip the gradient's global norm to this (0: no clipping).",
    "gamma": "GAE discount. 1 suits short responses scored at the end.",
    "lam": "GAE lambda: lower trusts the value head more (less variance, more bias).",
    "cliprange": "PPO ratio clip: how far one update may move a token's probability.",
    "cliprange_value": "How far one update may move a value prediction.",
    "vf_coef": "Weight of the value loss beside the policy loss.",
    "kl_horizon": "Adaptive mode: rollouts over which the KL controller reacts; smaller "
    "reacts faster.",
    "missing_eos_penalty": "Subtracted from the score of responses cut off at the length "
    "limit (0: off). Stops the policy from gaming the reward by never ending.",
    "samples_per_step": "Rollouts per step shown in the Latest rollouts table beside the "
    "reference's response (each costs a little generation time; 0: none).",
    "eval_prompts": "Prompts kept out of training (picked by the seed) that the policy "
    "answers every few steps: the Reward plot's held-out curve shows whether what it learns "
    "carries over to prompts it never trained on (0: off).",
    "eval_every": "Steps between held-out evaluations; the last step is always evaluated.",
    "whiten_rewards": "Whiten the scores across each batch before the KL penalty (steadier "
    "with rewards of a large or drifting scale).",
}

# PPOConfig fields in the Advanced section: field -> (label, low, high, decimals or None).
ADVANCED_NUMBERS: dict[str, tuple[str, float, float, int | None]] = {
    "warmup_steps": ("Warmup steps", 0, 100000, None),
    "gradient_accumulation_steps": ("Gradient accumulation", 1, 1024, None),
    "max_grad_norm": ("Max gradient norm", 0.0, 1000.0, 2),
    "gamma": ("GAE gamma", 0.0, 1.0, 3),
    "lam": ("GAE lambda", 0.0, 1.0, 3),
    "cliprange": ("Policy clip range", 0.01, 10.0, 3),
    "cliprange_value": ("Value clip range", 0.01, 1000.0, 3),
    "vf_coef": ("Value loss weight", 0.0, 100.0, 3),
    "kl_horizon": ("KL horizon", 1, 10**7, None),
    "missing_eos_penalty": ("Missing-EOS penalty", 0.0, 100.0, 2),
    "samples_per_step": ("Samples shown per step", 0, 1024, None),
    "eval_prompts": ("Held-out prompts", 0, 100000, None),
    "eval_every": ("Evaluate every (steps)", 1, 100000, None),
}
LR_SCHEDULES = ("constant", "linear", "cosine")


class PPOForm(QWidget):
    """All settings of a PPO run; `changed` fires on any edit."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        defaults = PPOConfig()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.preset_combo = QComboBox(objectName="presetCombo")
        self.preset_combo.addItems([*PRESETS, CUSTOM])
        self.preset_combo.setToolTip("Settings known to work; edit any field afterwards.")
        self.preset_combo.activated.connect(
            lambda _i: self.apply_preset(self.preset_combo.currentText())
        )
        self.prompt_set_combo = QComboBox(objectName="trainPromptSetCombo")
        self.prompt_set_combo.setToolTip("The prompts rollouts are sampled from.")
        top = QFormLayout()
        top.addRow("Preset", self.preset_combo)
        top.addRow("Prompt set", self.prompt_set_combo)
        layout.addLayout(top)
        reward_box = QGroupBox("Reward (weighted sum)")
        self.rewards = RewardTable()
        QVBoxLayout(reward_box).addWidget(self.rewards)
        layout.addWidget(reward_box)
        layout.addWidget(self._build_ppo_box(defaults))
        layout.addWidget(self._build_advanced(defaults))
        layout.addWidget(self._build_lora_box())
        self.continue_check = QCheckBox(
            "Continue from the current adapter", objectName="continueAdapterCheck"
        )
        self.continue_check.setToolTip(
            "Off: each run starts from a fresh LoRA adapter (the model is reloaded if its "
            "adapter was trained). On: keep training the adapter as it is now."
        )
        layout.addWidget(self.continue_check)
        self.rewards.table.cellChanged.connect(self._on_edited)
        self.apply_preset(next(iter(PRESETS)))

    def _build_ppo_box(self, defaults: PPOConfig) -> QGroupBox:
        box = QGroupBox("PPO")
        form = QFormLayout(box)
        self.steps_spin = self._spin("trainStepsSpin", 1, 100000, defaults.steps, "steps")
        self.batch_spin = self._spin("batchSizeSpin", 1, 4096, defaults.batch_size, "batch_size")
        self.mini_batch_spin = self._spin(
            "miniBatchSpin", 1, 4096, defaults.mini_batch_size, "mini_batch_size"
        )
        self.epochs_spin = self._spin("ppoEpochsSpin", 1, 64, defaults.ppo_epochs, "ppo_epochs")
        self.lr_spin = self._double(
            "learningRateSpin", 1e-7, 1.0, defaults.learning_rate, 7, "learning_rate"
        )
        self.lr_spin.setSingleStep(1e-4)
        self.kl_mode_combo = QComboBox(objectName="klModeCombo")
        self.kl_mode_combo.addItems(["adaptive", "fixed"])
        self.kl_mode_combo.setToolTip(TIPS["kl_mode"])
        self.kl_mode_combo.currentTextChanged.connect(self._on_edited)
        self.kl_coef_spin = self._double(
            "klCoefSpin", 0.0, 10.0, defaults.init_kl_coef, 4, "init_kl_coef"
        )
        self.kl_target_spin = self._double(
            "klTargetSpin", 0.01, 1000.0, defaults.target_kl, 2, "target_kl"
        )
        self.length_spin = self._spin(
            "maxNewTokensSpin", 1, 4096, defaults.max_new_tokens, "max_new_tokens"
        )
        self.temperature_spin = self._double(
            "temperatureSpin", 0.05, 5.0, defaults.temperature, 2, "temperature"
        )
        self.seed_spin = self._spin("seedSpin", 0, 2**31 - 1, defaults.seed, "seed")
        self.checkpoint_spin = self._spin(
            "checkpointEverySpin", 0, 100000, defaults.checkpoint_every, "checkpoint_every"
        )
        for label, widget in (
            ("Steps", self.steps_spin),
            ("Batch size", self.batch_spin),
            ("Minibatch size", self.mini_batch_spin),
            ("PPO epochs", self.epochs_spin),
            ("Learning rate", self.lr_spin),
            ("KL mode", self.kl_mode_combo),
            ("KL coefficient", self.kl_coef_spin),
            ("KL target (nats)", self.kl_target_spin),
            ("Response length", self.length_spin),
            ("Temperature", self.temperature_spin),
            ("Seed", self.seed_spin),
            ("Checkpoint every", self.checkpoint_spin),
        ):
            form.addRow(label, widget)
        return box

    def _build_advanced(self, defaults: PPOConfig) -> QCollapsible:
        """The rest of PPOConfig, collapsed: the defaults suit most runs."""
        section = QCollapsible("Advanced")
        section.setObjectName("advancedSection")
        content = QWidget()
        form = QFormLayout(content)
        self.lr_schedule_combo = QComboBox(objectName="lrScheduleCombo")
        self.lr_schedule_combo.addItems(LR_SCHEDULES)
        self.lr_schedule_combo.setToolTip(TIPS["lr_schedule"])
        self.lr_schedule_combo.currentTextChanged.connect(self._on_edited)
        form.addRow("LR schedule", self.lr_schedule_combo)
        self.advanced: dict[str, QSpinBox | QDoubleSpinBox] = {}
        for field, (label, low, high, decimals) in ADVANCED_NUMBERS.items():
            name = _camel(field) + "Spin"
            value = getattr(defaults, field) or 0  # missing_eos_penalty None shows as 0 (off)
            if decimals is None:
                widget = self._spin(name, int(low), int(high), int(value), field)
            else:
                widget = self._double(name, low, high, value, decimals, field)
            self.advanced[field] = widget
            form.addRow(label, widget)
        self.whiten_check = QCheckBox("Whiten rewards", objectName="whitenRewardsCheck")
        self.whiten_check.setToolTip(TIPS["whiten_rewards"])
        self.whiten_check.toggled.connect(self._on_edited)
        form.addRow(self.whiten_check)
        section.addWidget(content)
        return section

    def _build_lora_box(self) -> QGroupBox:
        lora = LoraSpec()
        box = QGroupBox("LoRA adapter")
        form = QFormLayout(box)
        self.lora_r_spin = self._spin("loraRankSpin", 1, 1024, lora.r, "lora_r")
        self.lora_alpha_spin = self._spin("loraAlphaSpin", 1, 4096, lora.alpha, "lora_alpha")
        self.lora_targets_edit = QLineEdit(objectName="loraTargetsEdit")
        self.lora_targets_edit.setPlaceholderText("auto")
        self.lora_targets_edit.setToolTip(TIPS["lora_targets"])
        self.lora_targets_edit.textChanged.connect(self._on_edited)
        form.addRow("Rank", self.lora_r_spin)
        form.addRow("Alpha", self.lora_alpha_spin)
        form.addRow("Target modules", self.lora_targets_edit)
        return box

    def _spin(self, name: str, low: int, high: int, value: int, tip: str) -> QSpinBox:
        spin = QSpinBox(objectName=name, minimum=low, maximum=high, value=value)
        spin.setToolTip(TIPS[tip])
        spin.valueChanged.connect(self._on_edited)
        return spin

    def _double(self, name, low, high, value, decimals, tip) -> QDoubleSpinBox:
        spin = QDoubleSpinBox(objectName=name, decimals=decimals, minimum=low, maximum=high)
        spin.setValue(value)
        spin.setToolTip(TIPS[tip])
        spin.valueChanged.connect(self._on_edited)
        return spin

    # presets
    def apply_preset(self, name: str) -> None:
        """Fill the form from a preset (unknown names, e.g. Custom, change nothing)."""
        if name not in PRESETS:
            return
        overrides, (rank, alpha), rewards = PRESETS[name]
        self.set_config(replace(PPOConfig(), **overrides))
        self.lora_r_spin.setValue(rank)
        self.lora_alpha_spin.setValue(alpha)
        self.rewards.set_specs(rewards)
        self.preset_combo.setCurrentText(name)

    def set_config(self, config: PPOConfig) -> None:
        self.blockSignals(True)
        self.steps_spin.setValue(config.steps)
        self.batch_spin.setValue(config.batch_size)
        self.mini_batch_spin.setValue(config.mini_batch_size)
        self.epochs_spin.setValue(config.ppo_epochs)
        self.lr_spin.setValue(config.learning_rate)
        self.kl_mode_combo.setCurrentText(config.kl_mode)
        self.kl_coef_spin.setValue(config.init_kl_coef)
        self.kl_target_spin.setValue(config.target_kl)
        self.length_spin.setValue(config.max_new_tokens)
        self.temperature_spin.setValue(config.temperature)
        self.seed_spin.setValue(config.seed)
        self.checkpoint_spin.setValue(config.checkpoint_every)
        self.lr_schedule_combo.setCurrentText(config.lr_schedule)
        for field, widget in self.advanced.items():
            widget.setValue(getattr(config, field) or 0)
        self.whiten_check.setChecked(config.whiten_rewards)
        self.blockSignals(False)
        self.changed.emit()

    def _on_edited(self, *_args) -> None:
        if not self.signalsBlocked():
            if self.sender() is not self.preset_combo:
                self.preset_combo.setCurrentText(CUSTOM)
            self.kl_target_spin.setEnabled(self.kl_mode_combo.currentText() == "adaptive")
            self.changed.emit()

    # values out
    def config(self) -> PPOConfig:
        """The PPOConfig the form describes (core checks it when training starts)."""
        return replace(
            PPOConfig(),
            steps=self.steps_spin.value(),
            batch_size=self.batch_spin.value(),
            mini_batch_size=min(self.mini_batch_spin.value(), self.batch_spin.value()),
            ppo_epochs=self.epochs_spin.value(),
            learning_rate=self.lr_spin.value(),
            kl_mode=self.kl_mode_combo.currentText(),
            init_kl_coef=self.kl_coef_spin.value(),
            target_kl=self.kl_target_spin.value(),
            max_new_tokens=self.length_spin.value(),
            temperature=self.temperature_spin.value(),
            seed=self.seed_spin.value(),
            checkpoint_every=self.checkpoint_spin.value(),
            lr_schedule=self.lr_schedule_combo.currentText(),
            whiten_rewards=self.whiten_check.isChecked(),
            **self._advanced_values(),
        )

    def _advanced_values(self) -> dict[str, Any]:
        values: dict[str, Any] = {field: w.value() for field, w in self.advanced.items()}
        values["missing_eos_penalty"] = values["missing_eos_penalty"] or None  # 0 means off
        return values

    def lora(self) -> LoraSpec:
        targets = [t.strip() for t in self.lora_targets_edit.text().split(",") if t.strip()]
        return LoraSpec(
            r=self.lora_r_spin.value(),
            alpha=self.lora_alpha_spin.value(),
            target_modules=tuple(targets) if targets else None,
        )

    def set_prompt_sets(self, names: list[str], preferred: str = "demo") -> None:
        current = self.prompt_set_combo.currentText() or preferred
        self.prompt_set_combo.clear()
        self.prompt_set_combo.addItems(names)
        if current in names:
            self.prompt_set_combo.setCurrentText(current)

    def prompt_set(self) -> str:
        return self.prompt_set_combo.currentText()


def _camel(field: str) -> str:
    """warmup_steps -> warmupSteps (objectName style)."""
    head, *rest = field.split("_")
    return head + "".join(part.title() for part in rest)
