"""The core benchmark measures what it says: every simulated event through every stage."""

from bench import core


def test_the_core_benchmark_runs_every_stage_over_every_event() -> None:
    result = core.run(3000)
    assert result.events > 3000  # the background events and the patterns they started
    assert result.alerts > 0  # the rules ran on validated events
    each = (result.admit_us, result.decode_us, result.validate_us, result.rules_us)
    assert min(*each, result.reference_rules_us) > 0
    stages = result.admit_us + result.rules_us
    assert abs(1e6 / result.events_per_s - stages) < 1e-6 * stages + 1e-9
    assert set(result.as_json()) >= {"events_per_s", "setup"}
