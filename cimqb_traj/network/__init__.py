"""Coherent Ising machine: N coupled DOPOs selecting the phases of an Ising instance."""

from .ising import (BRUTE_FORCE_MAX_N, GroundStates, PGround, clopper_pearson, energy,  # noqa: F401
                    energy_histogram, ground_states, mobius, p_ground, parse_instance, read_edges,
                    ring, sk, time_to_solution, triangle, tts_interval)
