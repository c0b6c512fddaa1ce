"""Reward models: the pairs they train on, fitting the head, training, and the
standard folder they are saved in."""
