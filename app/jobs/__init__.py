"""The work the GUI runs in background threads, as plain Python over core (no Qt here).

- app/jobs/model.py: load and describe a model, generate Compare & Rate pairs, sample the
  policy, AI-score responses.
- app/jobs/feedback.py: the AI Feedback page's jobs (judge labelling, reward-model
  training, agreement, the interactive RLAIF round).
- app/jobs/label_order.py: Compare & Rate's pair order (the reward model's ensemble).
- The PPO training job is app/jobs/training.py (a generator the Train page runs).

app/workers.py runs each in a thread of its own and hands its results and progress to
the GUI thread, which emits them as Qt signals. None of them imports torch at module level: the window is
built before the model libraries are imported (app/warm_up.py).
"""
