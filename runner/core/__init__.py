"""Plain functions that do the runner's work; no click imports here."""
