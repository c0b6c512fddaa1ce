"""Model page: choose the demo model, a local folder or a hub id, a device, a dtype, a
quantised base (bitsandbytes) and a prompt format; load it in the background with
progress; show what was loaded and the memory it uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.algorithms import ALGORITHMS
from app.app_state import AppState
from app.jobs.local_models import train_defaults
from app.jobs.model import LoadedModel, describe_session, load_model
from app.load_progress import ProgressText
from app.widgets.common import named, page_title, wrapping_label
from app.widgets.local_models import LocalModelsBox
from app.widgets.memory_plan import MemoryPlanLabel
from app.widgets.model_info import info_rows
from app.widgets.welcome import WelcomePanel
from app.workers import start_job
from core.config import DEMO_MODEL, LoraSpec, ModelSpec
from core.data.prompt_format import PROMPT_FORMATS
from core.errors import StudioError
from core.memory_plan import budget_of
from core.model.quantize import QUANTIZE_MODES
from core.model.shapes import ModelShape, shape_of

if TYPE_CHECKING:
    from app.workers import BackgroundJob

DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16", "float16")
MAX_RECENT = 8
ADAPTER_RUN_KINDS = frozenset(ALGORITHMS) | {"dpo_round"}
"""Run kinds that train the loaded model's adapter (a reward model trains its own)."""
DEMO_PLAN_LATER = "The demo model's memory plan shows once it is built (Load model builds it)."


class ModelPage(QWidget):
    """Loads the one model session every other page uses."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._worker: BackgroundJob | None = None
        self._progress_text = ProgressText()
        self._runs_at_load: set[int] = set()
        layout = QVBoxLayout(self)
        layout.addWidget(page_title("Model"))
        self.welcome = WelcomePanel(state)
        self.welcome.loaded.connect(self._on_loaded)
        # First start (no model ever loaded): the welcome, and no memory plan until a
        # model exists.
        self._first_start = state.setting("model/name_or_path") is None
        layout.addWidget(self.welcome)
        self.local_models = LocalModelsBox(state, lambda: self._plan_choice()[1:])
        self.local_models.model_chosen.connect(self._select_model)
        top = QHBoxLayout()
        top.addWidget(self._build_form(), 2)
        top.addWidget(self.local_models, 3)
        layout.addLayout(top, 1)
        layout.addLayout(self._build_buttons())
        bottom = QHBoxLayout()
        bottom.addWidget(self._build_info(), 1)
        bottom.addWidget(self._build_plan(), 1)
        layout.addLayout(bottom)
        # Hidden once in the layout (shown before, a parentless widget is a window).
        self.welcome.setHidden(not self._first_start)
        self.plan_box.setHidden(self._first_start)
        state.session_changed.connect(self._on_session_changed)
        state.jobs_changed.connect(self._update_buttons)
        state.runs_changed.connect(self._on_runs_changed)
        self._restore_choice()
        self._update_buttons()
        for signal in (
            self.model_combo.currentTextChanged,
            self.device_combo.currentTextChanged,
            self.dtype_combo.currentTextChanged,
        ):
            signal.connect(self._schedule_plan)
        self.device_combo.currentTextChanged.connect(lambda _t: self._schedule_models())
        self.dtype_combo.currentTextChanged.connect(lambda _t: self._schedule_models())
        self._schedule_plan()
        self._schedule_models()

    # widgets
    def _build_form(self) -> QGroupBox:
        box = QGroupBox("Which model")
        form = QFormLayout(box)
        self.model_combo = named(QComboBox(editable=True), "modelCombo")
        self.model_combo.setToolTip(
            "'Demo model' is built in and works offline. Or pick a local model folder "
            "(config.json + weights + tokenizer), or type a Hugging Face hub id such as "
            "HuggingFaceTB/SmolLM2-135M (needs network or a warm cache)."
        )
        self.model_combo.setMinimumWidth(420)
        browse = named(QPushButton("Folder…"), "browseModelButton")
        browse.clicked.connect(self._on_browse)
        row = QHBoxLayout()
        row.addWidget(self.model_combo, 1)
        row.addWidget(browse)
        form.addRow("Model", row)
        self.device_combo = named(QComboBox(), "deviceCombo")
        self.device_combo.addItems(DEVICES)
        self.device_combo.setToolTip("auto picks CUDA, then Apple MPS, then the CPU.")
        self.dtype_combo = named(QComboBox(), "dtypeCombo")
        self.dtype_combo.addItems(DTYPES)
        self.dtype_combo.setToolTip(
            "auto: bfloat16 on a GPU that supports it, else float32. float16 can overflow "
            "during PPO; prefer bfloat16."
        )
        form.addRow("Device", self.device_combo)
        form.addRow("Precision", self.dtype_combo)
        self.quantize_combo = named(QComboBox(), "quantizeCombo")
        self.quantize_combo.addItems(QUANTIZE_MODES)
        self.quantize_combo.setToolTip(
            "Store the frozen base weights quantised (QLoRA): 4bit (NF4) takes about a "
            "quarter of the 16-bit memory, 8bit about half. The LoRA adapter stays float32; "
            "Precision is then the compute dtype. Needs the bitsandbytes package "
            '(pip install "rlhf-studio[quant]"); runs on a CUDA GPU or the CPU.'
        )
        form.addRow("Quantise base", self.quantize_combo)
        self.prompt_format_combo = named(QComboBox(), "promptFormatCombo")
        self.prompt_format_combo.addItems(PROMPT_FORMATS)
        self.prompt_format_combo.setToolTip(
            "plain: the model continues the prompt text (base models, the demo model). "
            "chat: each prompt goes in as a user message through the tokenizer's chat "
            "template, and the model answers it (instruction-tuned models)."
        )
        form.addRow("Prompt format", self.prompt_format_combo)
        self.lora_check = QCheckBox("Attach a LoRA adapter (needed for training)")
        self.lora_check.setChecked(True)
        form.addRow("", self.lora_check)
        self.adapter_edit = named(QLineEdit(), "adapterEdit")
        self.adapter_edit.setPlaceholderText("optional: a saved PEFT adapter folder to start from")
        adapter_browse = QPushButton("Folder…")
        adapter_browse.clicked.connect(self._on_browse_adapter)
        adapter_row = QHBoxLayout()
        adapter_row.addWidget(self.adapter_edit, 1)
        adapter_row.addWidget(adapter_browse)
        form.addRow("Adapter", adapter_row)
        self.remote_code_check = QCheckBox("Trust remote code shipped with the model")
        self.remote_code_check.setToolTip(
            "Runs Python code from the model folder. Only if you trust it."
        )
        form.addRow("", self.remote_code_check)
        return box

    def _build_buttons(self) -> QHBoxLayout:
        self.load_button = named(QPushButton("Load model"), "loadModelButton")
        self.load_button.setDefault(True)
        self.load_button.clicked.connect(self._on_load)
        self.unload_button = named(QPushButton("Unload"), "unloadModelButton")
        self.unload_button.clicked.connect(self._on_unload)
        self.progress = named(QProgressBar(), "loadProgress")
        self.progress.setVisible(False)
        self.progress_label = named(QLabel(), "loadStatus")
        row = QHBoxLayout()
        row.addWidget(self.load_button)
        row.addWidget(self.unload_button)
        row.addWidget(self.progress, 1)
        row.addWidget(self.progress_label, 2)
        return row

    def _build_info(self) -> QGroupBox:
        box = QGroupBox("Loaded model")
        self.info_form = QFormLayout(box)
        self.info_form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.info_empty = QLabel("No model loaded. Load the demo model to try everything offline.")
        self.info_empty.setObjectName("hint")
        self.info_form.addRow(self.info_empty)
        self._info_labels: dict[str, QLabel] = {}
        """The loaded model's value labels by row key (empty while none is loaded)."""
        return box

    def _build_plan(self) -> QGroupBox:
        self.train_defaults = train_defaults()
        self.plan_box = named(QGroupBox("Memory plan"), "memoryPlanBox")
        self.plan_box.setToolTip(self.train_defaults.title)
        self.plan_title = wrapping_label("memoryPlanTitle", f"For {self.train_defaults.title}.")
        self.plan_label = MemoryPlanLabel()
        self.plan_label.setText("Choose a model to see its memory plan.")
        plan_layout = QVBoxLayout(self.plan_box)
        plan_layout.addWidget(self.plan_title)
        plan_layout.addWidget(self.plan_label)
        plan_layout.addStretch(1)
        # The shape comes from config.json, read in a worker once the choice settles.
        self._plan_timer = QTimer(self, singleShot=True, interval=300)
        self._plan_timer.timeout.connect(self._start_plan)
        self._models_timer = QTimer(self, singleShot=True, interval=300)
        self._models_timer.timeout.connect(self.local_models.refresh)
        return self.plan_box

    def _schedule_models(self) -> None:
        self._models_timer.start()

    # memory plan
    def _schedule_plan(self, *_args) -> None:
        self._plan_timer.start()

    def _plan_choice(self) -> tuple[str, str, str]:
        """(model, device, dtype) as the plan reads them: auto means CPU float32 until a
        model is loaded (its real device and free memory then replace the guess)."""
        device = self.device_combo.currentText()
        device = "cuda" if device == "cuda" else "cpu"
        dtype = self.dtype_combo.currentText()
        if dtype == "auto":
            dtype = "bfloat16" if device == "cuda" else "float32"
        return self.chosen_model(), device, dtype

    def _start_plan(self) -> None:
        session = self.state.session
        choice = self._plan_choice()
        if session is not None and session.spec.name_or_path == choice[0]:
            self._show_session_plan(describe_session(session))
            return
        if not choice[0]:
            return
        # A bound method, not a lambda: Qt drops the connection when the page is
        # deleted, so a shape read that outlives the window touches no dead widget.
        start_job(
            self.state,
            shape_for_choice,
            choice,
            description="Reading the model's shape",
            context="Planning memory",
            on_done=self._on_shape,
        )

    def _on_shape(self, outcome: tuple[tuple[str, str, str], ModelShape | str]) -> None:
        choice, result = outcome
        if choice != self._plan_choice():
            return  # the choice moved on; a newer plan is on its way
        if isinstance(result, str):
            demo = choice[0] == DEMO_MODEL
            self.plan_label.setText(DEMO_PLAN_LATER if demo else result)
            return
        name, device, dtype = choice
        self.plan_label.show_plan(result, self.train_defaults.request(dtype, device))

    def _show_session_plan(self, info: dict) -> None:
        if not info.get("shape"):
            self.plan_label.setText("The planner does not know this model's shape.")
            return
        request = self.train_defaults.request(info["dtype"], info["device"])
        budget = budget_of(info.get("memory") or {})
        self.plan_label.show_plan(ModelShape(**info["shape"]), request, budget)

    # choices
    def _restore_choice(self) -> None:
        self.model_combo.addItem("Demo model (built-in)", DEMO_MODEL)
        for path in self._recent():
            if path != DEMO_MODEL:
                self.model_combo.addItem(path, path)
        last = self.state.setting("model/name_or_path", DEMO_MODEL)
        self._select_model(last)
        self.device_combo.setCurrentText(self.state.setting("model/device", "auto"))
        self.dtype_combo.setCurrentText(self.state.setting("model/dtype", "auto"))
        self.quantize_combo.setCurrentText(self.state.setting("model/quantize", ModelSpec.quantize))
        self.prompt_format_combo.setCurrentText(
            self.state.setting("model/prompt_format", ModelSpec.prompt_format)
        )

    def _recent(self) -> list[str]:
        value = self.state.setting("model/recent", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _select_model(self, name_or_path: str) -> None:
        index = self.model_combo.findData(name_or_path)
        if index < 0:
            self.model_combo.addItem(name_or_path, name_or_path)
            index = self.model_combo.count() - 1
        self.model_combo.setCurrentIndex(index)

    def chosen_model(self) -> str:
        """The model the combo names: its item's data, or the text typed in."""
        text = self.model_combo.currentText().strip()
        index = self.model_combo.currentIndex()
        if index >= 0 and self.model_combo.itemText(index) == text:
            return str(self.model_combo.itemData(index))
        return text

    def spec(self) -> ModelSpec:
        """The ModelSpec the form describes."""
        name = self.chosen_model()
        if not name:
            raise StudioError("Choose a model: the demo model, a folder or a hub id.")
        return ModelSpec(
            name_or_path=name,
            device=self.device_combo.currentText(),
            dtype=self.dtype_combo.currentText(),
            trust_remote_code=self.remote_code_check.isChecked(),
            lora=LoraSpec() if self.lora_check.isChecked() else None,
            adapter_path=self.adapter_edit.text().strip() or None,
            prompt_format=self.prompt_format_combo.currentText(),
            quantize=self.quantize_combo.currentText(),
        )

    def _on_browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a model folder")
        if folder:
            self._select_model(folder)

    def _on_browse_adapter(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a PEFT adapter folder")
        if folder:
            self.adapter_edit.setText(folder)

    # loading
    def load_last_model(self) -> None:
        """Load the model chosen last time (on launch)."""
        if self.state.setting("model/name_or_path") is not None:
            self._on_load()

    def load(self, spec: ModelSpec) -> None:
        """Load `spec` in the background; the current model stays until it is ready."""
        self._progress_text = ProgressText()
        self._set_loading(True, f"Loading {spec.name_or_path}…")
        self._worker = start_job(
            self.state,
            load_model,
            spec,
            description=f"Loading {spec.name_or_path}",
            context="Loading the model",
            on_done=self._on_loaded,
            on_error=self._on_load_failed,
            on_progress=self._on_progress,
            uses_model=True,
        )

    def _on_load(self) -> None:
        try:
            spec = self.spec()
        except StudioError as error:
            self.state.errors.report(error, "Loading the model")
            return
        if self.state.model_busy():
            self.state.errors.report(
                StudioError(
                    "The model is busy (a job is using it). Wait or stop training, then load again."
                ),
                "Loading the model",
            )
            return
        self.load(spec)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        waiting = message.startswith("waiting")
        self.progress.setMaximum(0 if waiting else max(total, 0))
        self.progress.setValue(done)
        if message:
            self.progress_label.setText(self._progress_text.describe(done, total, message))

    def _on_loaded(self, loaded: LoadedModel) -> None:
        spec = loaded.session.spec
        self.state.set_setting("model/name_or_path", spec.name_or_path)
        self.state.set_setting("model/device", self.device_combo.currentText())
        self.state.set_setting("model/dtype", self.dtype_combo.currentText())
        self.state.set_setting("model/prompt_format", spec.prompt_format)
        self.state.set_setting("model/quantize", spec.quantize)
        recent = [spec.name_or_path] + [p for p in self._recent() if p != spec.name_or_path]
        self.state.set_setting("model/recent", recent[:MAX_RECENT])
        self.state.set_session(loaded.session)
        self._show_info(loaded.info)
        self.welcome.setVisible(False)  # a model exists: the plan may speak now
        self.plan_box.setVisible(True)
        self._select_model(spec.name_or_path)
        self._set_loading(False, f"Loaded {loaded.session.name}.")

    def _on_load_failed(self, _error: BaseException) -> None:
        self._set_loading(False, "Loading failed; see the message.")

    def _on_unload(self) -> None:
        if self.state.model_busy():
            return
        self.state.set_session(None)
        self.progress_label.setText("Model unloaded; its memory was freed.")

    def _set_loading(self, loading: bool, message: str) -> None:
        self.progress.setVisible(loading)
        self.progress.setRange(0, 0)  # busy until the first progress report
        self.progress_label.setText(message)
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self.state.model_busy()
        self.load_button.setEnabled(not busy)
        self.unload_button.setEnabled(not busy and self.state.session is not None)

    # display
    def _on_session_changed(self, session) -> None:
        store = self.state.store
        self._runs_at_load = {run.id for run in store.runs()} if store is not None else set()
        if session is None:
            self._show_info(None)
        else:
            self._show_info(describe_session(session))
        self._update_buttons()
        self._schedule_plan()

    def _on_runs_changed(self) -> None:
        """After a run on the loaded model, the adapter row says it is trained, and by which
        run (a "fresh LoRA adapter" would be wrong from the first step on)."""
        label = self.findChild(QLabel, "info_adapter")
        if label is None or self.state.session is None or self.state.store is None:
            return
        trained = [
            run for run in self.state.store.runs()
            if run.id not in self._runs_at_load and run.kind in ADAPTER_RUN_KINDS
        ]  # fmt: skip
        if trained and not self.state.session.spec.adapter_path:
            run = trained[-1]
            label.setText(f"LoRA adapter trained by run {run.name} (id {run.id}, {run.status})")

    def _show_info(self, info: dict | None) -> None:
        """Show `info`'s rows. The rows are made once per set of keys and relabelled after:
        a load shows them twice (session change, then the load's own description), and
        rebuilding a dozen labels with the re-layout it causes took the GUI thread tens of
        milliseconds each time."""
        rows = info_rows(info) if info else []
        keys = [key for key, _title, _text in rows]
        if keys != list(self._info_labels):
            self._build_info_rows(rows)
            return
        for key, _title, text in rows:
            self._info_labels[key].setText(text)

    def _build_info_rows(self, rows: list[tuple[str, str, str]]) -> None:
        while self.info_form.rowCount():
            self.info_form.removeRow(0)
        self._info_labels = {}
        if not rows:
            self.info_empty = named(QLabel("No model loaded."), "hint")
            self.info_form.addRow(self.info_empty)
            return
        for key, title, text in rows:
            label = named(QLabel(text), f"info_{key}")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.info_form.addRow(title, label)
            self._info_labels[key] = label


def shape_for_choice(
    choice: tuple[str, str, str],
) -> tuple[tuple[str, str, str], ModelShape | str]:
    """(the plan's choice, its model's shape or why it is unknown), in a worker."""
    return choice, read_shape(choice[0])


def read_shape(name_or_path: str) -> ModelShape | str:
    """The model's shape (runs in a worker: it reads config.json), or why it is unknown."""
    try:
        return shape_of(name_or_path)
    except StudioError as error:
        return f"No memory plan: {error}"
