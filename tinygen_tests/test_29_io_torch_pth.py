"""The torch-free .pth reader on committed fixtures (made by fixtures/make_pth_fixtures.py)."""
import io
import os
import pickle
import zipfile

import numpy as np
import pytest

from tinygen.io import TorchFileError, UnsafePickleError, load_torch_file, load_torch_state_dict

FIX = os.path.join(os.path.dirname(__file__), "fixtures")


def expected():
    with np.load(os.path.join(FIX, "pth_expected.npz")) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize("name", ["sd_zip.pth", "sd_legacy.pth"])
def test_state_dict_exact(name):
    exp = expected()
    sd = load_torch_state_dict(os.path.join(FIX, name))
    keys = [k for k in exp["__order__"] if not k.startswith("nested/")]
    if name == "sd_legacy.pth":
        keys.remove("uint16_v3")
    assert list(sd) == keys
    for k, v in sd.items():
        assert v.dtype == exp[k].dtype and v.shape == exp[k].shape, k
        assert np.array_equal(v, exp[k]), k
        assert v.flags.c_contiguous
    assert sd["float16"].dtype == np.float16 and sd["int64"][-1] == 2 ** 62
    assert np.array_equal(sd["transposed"], sd["shared_a"].T)            # one storage, two views
    assert np.array_equal(sd["shared_row"], sd["shared_a"][2])
    assert sd["view_offset"].tolist() == [3, 4, 5, 6]
    sd["shared_a"][0, 0] = 99                                             # copies, not aliases
    assert sd["transposed"][0, 0] != 99


def test_nested_checkpoint_unwraps_and_keeps_metadata():
    exp = expected()
    path = os.path.join(FIX, "ckpt_nested.pth")
    sd = load_torch_state_dict(path)
    assert list(sd) == [k[len("nested/"):] for k in exp["__order__"] if k.startswith("nested/")]
    for k, v in sd.items():
        assert np.array_equal(v, exp["nested/" + k]) and v.dtype == exp["nested/" + k].dtype
    assert sd["1.num_batches_tracked"].dtype == np.int64
    assert sd._metadata["1"] == {"version": 2}
    assert list(load_torch_state_dict(path, key="state_dict")) == list(sd)
    assert load_torch_file(path)["epoch"] == 3
    with pytest.raises(KeyError, match="no entry 'model'"):
        load_torch_state_dict(path, key="model")


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/tinygen_pwned",))


def test_malicious_pickles_are_refused_without_running(tmp_path):
    marker = "/tmp/tinygen_pwned"
    if os.path.exists(marker):
        os.remove(marker)
    legacy = tmp_path / "evil_legacy.pth"
    with open(legacy, "wb") as f:
        for obj in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}, {"w": Evil()}):
            pickle.dump(obj, f, protocol=2)
    with pytest.raises(UnsafePickleError, match="refusing to load global (posix|os|nt).system"):
        load_torch_state_dict(str(legacy))
    archive = tmp_path / "evil_zip.pth"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("evil/data.pkl", pickle.dumps({"w": Evil()}))
    with pytest.raises(UnsafePickleError, match="nothing was executed"):
        load_torch_state_dict(str(archive))
    plain = tmp_path / "evil_plain.pkl"
    plain.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(UnsafePickleError):
        load_torch_state_dict(str(plain))
    assert not os.path.exists(marker)


def test_truncated_and_foreign_files(tmp_path):
    for name in ("sd_zip.pth", "sd_legacy.pth"):
        data = open(os.path.join(FIX, name), "rb").read()
        cut = tmp_path / ("cut_" + name)
        cut.write_bytes(data[: len(data) * 2 // 3])
        with pytest.raises(TorchFileError, match="truncated"):
            load_torch_state_dict(str(cut))
    png = tmp_path / "x.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    with pytest.raises(TorchFileError, match="not a PyTorch"):
        load_torch_state_dict(str(png))
    np.savez(tmp_path / "a.npz", x=np.zeros(3))
    with pytest.raises(TorchFileError, match="data.pkl"):
        load_torch_state_dict(str(tmp_path / "a.npz"))
    with pytest.raises(FileNotFoundError):
        load_torch_state_dict(str(tmp_path / "absent.pth"))
    buf = io.BytesIO()
    pickle.dump([1, 2], buf)
    (tmp_path / "list.pkl").write_bytes(buf.getvalue())
    with pytest.raises(TorchFileError, match="not a torch.save file"):
        load_torch_state_dict(str(tmp_path / "list.pkl"))
