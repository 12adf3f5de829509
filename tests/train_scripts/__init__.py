"""Helpers for the training tests: tiny run configs, an offline tokenizer, a small synthetic dataset."""
