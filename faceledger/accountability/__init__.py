"""Accountability: calibration (what a threshold means), the ledger, fairness and calibration
reports, labelled face sets."""
