"""Trainers that learn from stored feedback rather than a live reward: DPO/IPO from
pairs, KTO from thumbs ratings, SFT from demonstrations. One batching path
(batching.py), one trainer loop (trainer.py), one small module per loss."""
