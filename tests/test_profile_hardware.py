"""The machine facts a profile records: fingerprint, versions, and Raspberry Pi thermal state."""

from __future__ import annotations

from pathlib import Path

from edge_fer.hardware import (
    FREQUENCY_FILE,
    TEMPERATURE_FILE,
    THROTTLED_FILE,
    Fingerprint,
    ThermalReading,
    runtime_version,
    thermal_reading,
    throttle_conditions,
    throttled_during,
)


def fake_pi(root: Path, milli_c: str, khz: str, throttled: str) -> Path:
    for name, text in ((TEMPERATURE_FILE, milli_c), (FREQUENCY_FILE, khz),
                       (THROTTLED_FILE, throttled)):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    return root


def test_fingerprint_has_every_field_a_profile_needs() -> None:
    f = Fingerprint.of_this_machine("tflite", 2).to_dict()
    assert set(f) == {"cpu", "cores", "arch", "memory_bytes", "os", "python", "runtime",
                      "runtime_version", "opencv", "threads"}
    assert f["threads"] == 2 and f["runtime"] == "tflite"
    assert str(f["runtime_version"]).startswith("ai-edge-litert ")  # what the dev env has
    assert f["opencv"] != "not installed"


def test_a_model_card_records_the_machine_without_the_software() -> None:
    machine = Fingerprint.of_this_machine().machine()
    assert set(machine) == {"cpu", "cores", "arch", "memory_bytes", "os", "python"}
    assert machine == Fingerprint.of_this_machine("tflite", 2).machine()


def test_an_unknown_runtime_is_not_installed() -> None:
    assert runtime_version("no-such-runtime") == "not installed"


def test_a_raspberry_pi_sysfs_is_read(tmp_path: Path) -> None:
    root = fake_pi(tmp_path, "61234", "1500000", "50005")
    reading = thermal_reading(root)
    assert reading == ThermalReading(temperature_c=61.234, frequency_mhz=1500.0,
                                     throttled=0x50005)
    assert reading.available


def test_no_thermal_sources_read_as_unavailable_not_an_error(tmp_path: Path) -> None:
    reading = thermal_reading(tmp_path)
    assert reading == ThermalReading() and not reading.available
    fake_pi(tmp_path, "garbage", "", "0xZZ")
    assert thermal_reading(tmp_path) == ThermalReading()


def test_this_machine_never_fails_to_read() -> None:
    assert isinstance(thermal_reading(), ThermalReading)


def test_throttle_bits_are_named() -> None:
    assert throttle_conditions(0x50005) == ["under-voltage", "throttled"]
    assert throttle_conditions(0x50005, since_boot=True) == ["under-voltage", "throttled"]
    assert throttle_conditions(0x20000) == []
    assert throttle_conditions(0x20000, since_boot=True) == ["ARM frequency capped"]


def test_throttling_during_a_sweep() -> None:
    before, after = ThermalReading(throttled=0x10000), ThermalReading(throttled=0x50000)
    # under-voltage happened before the sweep (sticky bit already set): not blamed on it;
    # throttling started during it (its sticky bit appeared).
    assert throttled_during([before, after]) == ["throttled"]
    assert throttled_during([before, before]) == []
    assert throttled_during([ThermalReading(throttled=0), ThermalReading(throttled=0x8)]) == [
        "soft temperature limit"]
    assert throttled_during([ThermalReading(), ThermalReading()]) is None
