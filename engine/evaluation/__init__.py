"""Evaluation: ground-truth metrics on synthetic clips, the paper's CLIP and FVD metrics, seams, reports."""
