"""Audit evidence: what each check and probe concluded, the facts that pin the run, and
the files an auditor keeps (HTML report, JSON evidence, JUnit XML)."""
