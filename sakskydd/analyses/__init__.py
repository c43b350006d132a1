"""Säkerhetsskyddsanalyser per unit and cycle, their plan (measures), workflow and versions."""
