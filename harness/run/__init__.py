"""`harness run`: lifecycle, supervision, evidence collection and verdicts of one profile run."""
