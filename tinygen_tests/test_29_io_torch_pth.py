"""The torch-free .pth reader on committed fixtures (made by fixtures/make_pth_fixtures.py)."""
import collections
import io
import os
import pickle
import random
import tracemalloc
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


# --------------------------------------------------------------------------
# A torch-free .pth writer for hand-made (and malformed) files
# --------------------------------------------------------------------------
# The tests below need files torch would never write (a stride-0 tensor over one element, a
# quantized storage, os.system...), and must run without torch. Python's pure-Python Pickler
# writes them: `Ref("torch._utils._rebuild_tensor_v2")` is pickled as the GLOBAL opcode
# 'torch._utils _rebuild_tensor_v2', calling a Ref gives a REDUCE of it, and a `Storage` is
# written as the persistent id ("storage", <storage type>, key, "cpu", numel).

class Ref:
    """A global by its dotted name; ``Ref(...)(*args)`` pickles as a call of that global."""

    def __init__(self, dotted):
        self.module, self.name = dotted.rsplit(".", 1)

    def __call__(self, *args):
        return Call(self, args)


class Call:
    def __init__(self, func, args, state=None):
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):                       # a state is written as a BUILD after the call
        return (self.func, self.args) if self.state is None else (self.func, self.args, self.state)


class Storage:
    def __init__(self, key, array, storage_type="torch.FloatStorage", numel=None):
        self.key, self.data = str(key), np.ascontiguousarray(array).tobytes()
        self.type, self.numel = Ref(storage_type), array.size if numel is None else numel


class _Writer(pickle._Pickler):
    dispatch = dict(pickle._Pickler.dispatch)

    def save_ref(self, obj):
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
    dispatch[Ref] = save_ref

    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", obj.type, obj.key, "cpu", obj.numel)
        return None


def dumps(obj, protocol=2):
    buf = io.BytesIO()
    _Writer(buf, protocol=protocol).dump(obj)
    return buf.getvalue()


def tensor(storage, size, stride=None, offset=0):
    """What torch.save writes for a tensor: _rebuild_tensor_v2(storage, offset, size, stride, ...)."""
    if stride is None:
        stride = tuple(int(np.prod(size[i + 1:])) for i in range(len(size)))
    return Ref("torch._utils._rebuild_tensor_v2")(storage, offset, tuple(size), tuple(stride),
                                                  False, collections.OrderedDict())


def write_zip(path, obj, storages=(), extra=None, compress=zipfile.ZIP_STORED, protocol=2):
    """A torch >= 1.6 archive: archive/data.pkl, archive/data/<key>, archive/byteorder."""
    with zipfile.ZipFile(path, "w", compress) as z:
        z.writestr("archive/data.pkl", dumps(obj, protocol))
        z.writestr("archive/byteorder", "little")
        for s in storages:
            z.writestr(f"archive/data/{s.key}", s.data)
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return str(path)


def write_legacy(path, obj, storages=()):
    """The pre-1.6 stream: magic, protocol, sys info, the pickle, storage keys, then the bytes."""
    with open(path, "wb") as f:
        for head in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
            f.write(dumps(head))
        f.write(dumps(obj))
        f.write(dumps([s.key for s in storages]))
        for s in storages:
            f.write(np.int64(s.numel).tobytes() + s.data)
    return str(path)


def f32(*values):
    return np.array(values, dtype=np.float32)


def span_bytes(a):
    """How many bytes of memory the array ``a`` reaches (NumPy 2 moved byte_bounds)."""
    byte_bounds = getattr(np.lib, "array_utils", np).byte_bounds
    low, high = byte_bounds(a)
    return high - low


OLD_ADVICE = "Load it with torch.load(..., weights_only=True)"     # wrong for files torch refuses


# --------------------------------------------------------------------------
# stride 0 and bounds: never allocate what the file does not hold
# --------------------------------------------------------------------------

@pytest.mark.parametrize("writer", [write_zip, write_legacy])
def test_stride0_tensor_is_a_readonly_view_not_a_copy(tmp_path, writer):
    one = Storage(0, f32(2.5))
    row = Storage(1, f32(1, 2, 3))
    path = writer(tmp_path / "expand.pth", {"big": tensor(one, (16384, 16384), (0, 0)),
                                              "expanded": tensor(row, (1000, 3), (0, 1)),
                                              "plain": tensor(row, (3,))}, [one, row])
    assert os.path.getsize(path) < 1500            # the file holds 4 + 12 bytes of data
    tracemalloc.start()
    sd = load_torch_state_dict(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20, f"loading a {os.path.getsize(path)}-byte file allocated {peak} bytes"
    big = sd["big"]
    assert big.shape == (16384, 16384) and big.dtype == np.float32 and big[123, 4567] == 2.5
    assert not big.flags.writeable and big.base is not None       # a view, not a copy
    assert span_bytes(big) <= 4                                   # one float32 underneath
    exp = sd["expanded"]
    assert not exp.flags.writeable and exp[999].tolist() == [1, 2, 3]
    assert span_bytes(exp) <= 12
    assert sd["plain"].flags.writeable and sd["plain"].tolist() == [1, 2, 3]   # ordinary: a copy


def test_stride0_matches_torch(tmp_path):
    torch = pytest.importorskip("torch")
    path = str(tmp_path / "e.pth")
    torch.save({"w": torch.arange(3.0)[:, None].expand(3, 16384)}, path)
    w = load_torch_state_dict(path)["w"]
    assert not w.flags.writeable and w.strides == (4, 0)
    assert np.array_equal(w, torch.load(path, weights_only=True)["w"].numpy())


def test_views_outside_their_storage_are_refused(tmp_path):
    s = Storage(0, f32(1, 2, 3, 4))
    cases = {
        "past the end": tensor(s, (2, 2), (2, 1), offset=1),      # reaches element 4 of 0..3
        "big stride": tensor(s, (2,), (4,)),
        "negative offset": tensor(s, (2,), (1,), offset=-1),
        "negative stride": tensor(s, (2,), (-1,), offset=3),
        "size/stride lengths": tensor(s, (2, 2), (1,)),
        "absurd size": tensor(s, (0, 2 ** 62, 2 ** 62), (1, 1, 1)),
        "absurd empty": tensor(s, (0, 2 ** 61), (1, 1)),
    }
    for what, t in cases.items():
        path = write_zip(tmp_path / "bad.pth", {"w": t}, [s])
        with pytest.raises(TorchFileError, match="bad.pth") as e:
            load_torch_state_dict(path)
        assert any(w in str(e.value) for w in ("storage", "size", "stride", "offset")), (what, e.value)


def test_storage_size_is_checked_against_the_record_before_reading(tmp_path):
    # the pickle says 1 float (4 bytes); the record decompresses to 64 MiB of zeros
    bomb = Storage(0, np.zeros(1 << 24, np.float32), numel=1)
    path = write_zip(tmp_path / "bomb.pth", {"w": tensor(bomb, (1,))}, [bomb],
                     compress=zipfile.ZIP_DEFLATED)
    assert os.path.getsize(path) < 1 << 20
    tracemalloc.start()
    with pytest.raises(TorchFileError, match="bomb.pth.*data/0.*67108864 bytes.*needs 4"):
        load_torch_state_dict(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 << 20, peak
    # ... and a storage that claims more elements than its record holds
    short = Storage(0, f32(1, 2), numel=2 ** 40)
    path = write_zip(tmp_path / "short.pth", {"w": tensor(short, (2,))}, [short])
    with pytest.raises(TorchFileError, match="short.pth.*8 bytes.*4398046511104"):
        load_torch_state_dict(path)
    path = write_legacy(tmp_path / "short_legacy.pth", {"w": tensor(short, (2,))}, [short])
    with pytest.raises(TorchFileError, match="short_legacy.pth"):
        load_torch_state_dict(path)


def test_each_kind_of_corruption_has_its_own_message(tmp_path):
    # cases the fuzz test found raising raw Python errors before; each now names the problem
    s = Storage(0, f32(1, 2))
    good = dumps({"w": tensor(s, (2,))})
    head = b"".join(dumps(h) for h in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}))
    legacy_tail = dumps(["0"]) + np.int64(2).tobytes() + s.data
    big = dumps(2 ** 40000)                                 # an int too long to print
    cases = {
        "bad utf-8": (head + good.replace(b"X\x01\x00\x00\x00w", b"X\x01\x00\x00\x00\xff") + legacy_tail,
                      "BINUNICODE at byte"),                # was UnicodeDecodeError
        "huge count": (head + good + dumps(["0"]) + np.int64(2 ** 61).tobytes() + s.data,
                       "stored with 2305843009213693952 elements"),     # was MemoryError
        "stack underflow": (head + b"\x80\x02s." + legacy_tail, "SETITEM at byte"),  # IndexError
        "append to a dict": (head + b"\x80\x02}K\x01a." + legacy_tail, "APPEND on a dict"),
        "call a number": (head + b"\x80\x02K\x01)R." + legacy_tail, "REDUCE on an int"),
        "huge magic": (big + head, "not a torch.save file"),
        "huge protocol": (dumps(0x1950A86A20F9469CFC6C) + big, "protocol version <int>"),
        "storage is an int": (head + dumps({"w": Ref("torch._utils._rebuild_tensor_v2")(
            1, 0, (1,), (1,), False, collections.OrderedDict())}) + legacy_tail, "rebuilt from an int"),
    }
    for what, (data, words) in cases.items():
        path = tmp_path / "broken.pth"
        path.write_bytes(data)
        with pytest.raises(TorchFileError) as e:
            load_torch_file(str(path))
        assert "broken.pth" in str(e.value) and words in str(e.value), (what, str(e.value))
    archive = tmp_path / "bz2.pth"                          # was NotImplementedError / RuntimeError
    write_zip(archive, {"w": tensor(s, (2,))}, [s], compress=zipfile.ZIP_BZIP2)
    with pytest.raises(TorchFileError, match="bz2.pth.*compression method 12"):
        load_torch_file(str(archive))


# --------------------------------------------------------------------------
# what torch.load(weights_only=True) accepts, tinygen accepts
# --------------------------------------------------------------------------

def test_plain_python_values_in_checkpoints(tmp_path):
    s = Storage(0, f32(1, 2))
    obj = {"state_dict": {"w": tensor(s, (2,))}, "size": Ref("torch.Size")([3, 4]),
           "device": Ref("torch.device")("cuda", 1), "cpu": Ref("torch.device")("cpu"),
           "set": {1, 2}, "frozen": frozenset({"a"}), "bytes": b"\x00\xff", "ba": bytearray(b"xy"),
           "complex": 1 + 2j, "tuple": (1, (2.5, None)), "od": collections.OrderedDict(a=True),
           "counter": collections.Counter("aab"), "big": 2 ** 70, "dtype": Ref("torch.float16")}
    for writer in (write_zip, write_legacy):
        got = load_torch_file(writer(tmp_path / "ckpt.pth", obj, [s]))
        assert got["size"] == (3, 4) and got["device"] == "cuda:1" and got["cpu"] == "cpu"
        assert got["set"] == {1, 2} and got["frozen"] == frozenset({"a"})
        assert got["bytes"] == b"\x00\xff" and got["ba"] == bytearray(b"xy")
        assert got["complex"] == 1 + 2j and got["tuple"] == (1, (2.5, None))
        assert got["od"] == collections.OrderedDict(a=True) and type(got["od"]) is collections.OrderedDict
        assert got["counter"] == collections.Counter("aab") and got["big"] == 2 ** 70
        assert str(got["dtype"]) == "torch.float16"
        assert got["state_dict"]["w"].tolist() == [1, 2]


def test_pickle_protocols_3_to_5_are_read(tmp_path):
    # torch.save(..., pickle_protocol=4) files: tinygen reads them (torch's weights_only reader
    # refuses their opcodes: a deliberate departure, since they only build data)
    s = Storage(0, f32(1, 2, 3))
    obj = collections.OrderedDict(w=tensor(s, (3,)), meta={"set": {1}, "bytes": b"x" * 300})
    for protocol in (3, 4, 5):
        got = load_torch_file(write_zip(tmp_path / f"p{protocol}.pth", obj, [s], protocol=protocol))
        assert got["w"].tolist() == [1, 2, 3] and got["meta"] == {"set": {1}, "bytes": b"x" * 300}


def test_python_values_match_torch_weights_only(tmp_path):
    torch = pytest.importorskip("torch")
    obj = {"size": torch.Size([2, 3]), "device": torch.device("cuda", 1), "cpu": torch.device("cpu"),
           "set": {1, 2}, "bytes": b"ab\x00\xff", "bytearray": bytearray(b"xy"), "complex": 1 + 2j,
           "od": collections.OrderedDict(a=1), "tuple": (1, (2, 3)), "counter": collections.Counter("aab"),
           "big": 2 ** 70, "float": 1.5, "none": None, "str": "é", "list": [1, [2]], "dtype": torch.float16,
           "w": torch.arange(4.0)}
    for legacy in (False, True):
        path = str(tmp_path / f"values_{legacy}.pth")
        torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
        ref = torch.load(path, weights_only=True)
        got = load_torch_file(path)
        assert set(got) == set(ref)
        for k in ref:
            if isinstance(ref[k], torch.Tensor):
                assert np.array_equal(got[k], ref[k].numpy())
            elif isinstance(ref[k], (torch.device, torch.dtype)):
                assert str(got[k]) == str(ref[k]), k
            else:
                assert got[k] == ref[k] and type(got[k]) is type(ref[k]) or k == "size", k
        assert type(got["size"]) is tuple


# --------------------------------------------------------------------------
# files that are not state dicts: say what they are and what to do
# --------------------------------------------------------------------------

def test_torchscript_archive_gets_advice(tmp_path):
    path = write_zip(tmp_path / "scripted.pt", Ref("__torch__.Net")(),
                     extra={"archive/constants.pkl": dumps(()), "archive/code/__torch__.py": "x"})
    with pytest.raises(TorchFileError, match=r"scripted.pt.*TorchScript.*state_dict\(\)") as e:
        load_torch_state_dict(path)
    assert not isinstance(e.value, UnsafePickleError)


def test_torchscript_archive_from_torch_gets_advice(tmp_path):
    torch = pytest.importorskip("torch")
    path = str(tmp_path / "scripted.pt")
    torch.jit.script(torch.nn.Linear(2, 2)).save(path)
    with pytest.raises(TorchFileError, match=r"TorchScript.*torch.save\(.*state_dict\(\)"):
        load_torch_state_dict(path)


def test_whole_module_pickle_gets_advice(tmp_path):
    # torch.save(model) of a user's class: its own global comes first, torch.nn's later
    fc = Call(Ref("torch.nn.modules.linear.Linear"), (), {"in_features": 2})
    model = Call(Ref("__main__.Net"), (), {"_modules": collections.OrderedDict(fc=fc)})
    path = write_zip(tmp_path / "model.pth", model)
    with pytest.raises(TorchFileError, match=r"model.pth.*whole.*module.*state_dict\(\)") as e:
        load_torch_state_dict(path)
    assert not isinstance(e.value, UnsafePickleError) and OLD_ADVICE not in str(e.value)


def test_whole_module_from_torch_gets_advice(tmp_path):
    torch = pytest.importorskip("torch")
    for legacy in (False, True):
        path = str(tmp_path / f"model_{legacy}.pth")
        torch.save(torch.nn.Sequential(torch.nn.Linear(2, 2)), path,
                   _use_new_zipfile_serialization=not legacy)
        with pytest.raises(TorchFileError, match=r"whole.*module.*torch.save\(model.state_dict\(\)"):
            load_torch_state_dict(path)


def test_unsupported_tensor_kinds_are_not_called_malicious(tmp_path):
    s = Storage(0, np.array([1, 2, 3], np.int8), "torch.QInt8Storage")
    f = Storage(1, f32(1, 2))
    quantized = Ref("torch._utils._rebuild_qtensor")(
        s, 0, (3,), (1,), (Ref("torch.per_tensor_affine"), 0.1, 0), False, collections.OrderedDict())
    layout = Ref("torch.serialization._get_layout")("torch.sparse_coo")
    sparse = Ref("torch._utils._rebuild_sparse_tensor")(layout, (tensor(f, (1, 2)), tensor(f, (2,)), (3, 3)))
    raw = Storage(2, np.array([1], np.uint8), "torch.storage.UntypedStorage")
    float8 = Ref("torch._utils._rebuild_tensor_v3")(raw, 0, (1,), (1,), False, collections.OrderedDict(),
                                                    Ref("torch.float8_e4m3fn"))
    for name, obj in {"quantized": quantized, "sparse": sparse, "float8_e4m3fn": float8}.items():
        path = write_zip(tmp_path / f"{name}.pth", {"t": obj}, [s, f, Storage(2, np.array([1], np.uint8))])
        with pytest.raises(TorchFileError, match=f"{name}.pth.*{name}.*not supported by tinygen") as e:
            load_torch_file(path)
        assert not isinstance(e.value, UnsafePickleError) and "malicious" not in str(e.value)


def test_unsupported_tensor_kinds_from_torch(tmp_path):
    torch = pytest.importorskip("torch")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = torch.quantize_per_tensor(torch.randn(3), 0.1, 0, torch.qint8)
    for name, t in {"quantized": q, "sparse": torch.eye(3).to_sparse()}.items():
        path = str(tmp_path / f"{name}.pth")
        torch.save({"t": t}, path)
        torch.load(path, weights_only=True)                    # torch accepts it ...
        with pytest.raises(TorchFileError, match=f"{name}.*not supported by tinygen's reader") as e:
            load_torch_file(path)                              # ... tinygen says it cannot read it
        assert not isinstance(e.value, UnsafePickleError)


def test_refusals_never_advise_weights_only_for_files_torch_refuses(tmp_path):
    path = write_zip(tmp_path / "evil.pth", {"x": Ref("os.system")("true")})
    with pytest.raises(UnsafePickleError, match="evil.pth.*os.system.*nothing was executed") as e:
        load_torch_file(path)
    assert OLD_ADVICE not in str(e.value)
    path = write_zip(tmp_path / "custom.pth", {"x": Ref("mypackage.Config")()})
    with pytest.raises(TorchFileError, match="custom.pth.*mypackage.Config.*allow-list") as e:
        load_torch_file(path)
    assert not isinstance(e.value, UnsafePickleError)
    assert OLD_ADVICE not in str(e.value) and "torch refuses this file too" in str(e.value)
    torch = pytest.importorskip("torch")
    for name in ("evil.pth", "custom.pth"):                    # torch refuses both as well
        with pytest.raises(Exception):
            torch.load(str(tmp_path / name), weights_only=True)


# --------------------------------------------------------------------------
# key= takes a dotted path
# --------------------------------------------------------------------------

def test_dotted_key_selects_nested_state_dicts(tmp_path):
    s = Storage(0, f32(1, 2, 3))
    obj = {"model": {"ema": {"w": tensor(s, (3,))}, "state_dict": {"w": tensor(s, (1,), offset=2)}},
           "epoch": 7}
    path = write_zip(tmp_path / "ckpt.pth", obj, [s])
    assert load_torch_state_dict(path, key="model.state_dict")["w"].tolist() == [3]
    assert load_torch_state_dict(path, key="model.ema")["w"].tolist() == [1, 2, 3]
    with pytest.raises(KeyError, match=r"ckpt.pth.*no entry 'missing' in 'model'.*\['ema', 'state_dict'\]") \
            as e:
        load_torch_state_dict(path, key="model.missing")
    assert isinstance(e.value, TorchFileError)
    with pytest.raises(KeyError, match=r"'epoch' is an int, not a dict"):
        load_torch_state_dict(path, key="epoch.weights")
    with pytest.raises(KeyError, match=r"no entry 'state_dict' at the top level.*\['model', 'epoch'\]"):
        load_torch_state_dict(path, key="state_dict")


# --------------------------------------------------------------------------
# fuzz: flipped bytes and truncations give TorchFileError, never a raw exception
# --------------------------------------------------------------------------
# Flips in a zip archive mostly hit a CRC check, which says little about the pickle reader;
# so half of the zip mutations change one member (data.pkl, a storage, byteorder) and pack the
# archive again with fresh CRCs. Legacy files have no CRC: every flip reaches the reader.

def _base_files(tmp_path):
    """Byte strings of small .pth files: the committed fixtures (made by torch), hand-made
    ones (stride 0, Python values), and files torch writes now when it is installed."""
    names = ("sd_zip.pth", "sd_legacy.pth", "ckpt_nested.pth")
    files = [open(os.path.join(FIX, n), "rb").read() for n in names]
    s, one = Storage(0, f32(1, 2, 3, 4)), Storage(1, f32(7))
    obj = {"sd": collections.OrderedDict(w=tensor(s, (2, 2)), b=tensor(one, (3, 5), (0, 0))),
           "size": Ref("torch.Size")([2, 2]), "set": {1, 2}, "bytes": b"xy",
           "dev": Ref("torch.device")("cpu")}
    for writer in (write_zip, write_legacy):
        files.append(open(writer(tmp_path / "base.pth", obj, [s, one]), "rb").read())
    try:                                     # tinygen's own writer, where there is one
        from tinygen.io.torch_save import save_torch_file
    except ImportError:
        pass
    else:
        save_torch_file({"w": f32(1, 2, 3), "n": np.arange(4).reshape(2, 2)}, str(tmp_path / "own.pth"))
        files.append(open(tmp_path / "own.pth", "rb").read())
    try:
        import torch
    except ImportError:
        return files
    sd = collections.OrderedDict(w=torch.randn(3, 2), h=torch.randn(2).half(), i=torch.arange(3),
                                 t=torch.randn(2, 3).t(), e=torch.ones(1).expand(4))
    for legacy in (False, True):
        torch.save(sd, str(tmp_path / "t.pth"), _use_new_zipfile_serialization=not legacy)
        files.append(open(tmp_path / "t.pth", "rb").read())
    return files


def _mutate(rng, data):
    """One random corruption: flip bytes or bits, set a 4-byte run, or truncate."""
    if data[:2] == b"PK" and rng.random() < 0.5:             # one member, CRCs kept valid
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            members = [(i.filename, z.read(i)) for i in z.infolist()]
        k = rng.choice([i for i, (n, _) in enumerate(members) if n.endswith(("data.pkl", "byteorder"))
                        or "/data/" in n] or [0])
        members[k] = (members[k][0], _mutate(rng, members[k][1]) if members[k][1] else b"x")
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            for name, payload in members:
                z.writestr(name, payload)
        return out.getvalue()
    data = bytearray(data)
    kind = rng.random()
    if kind < 0.15 or len(data) < 8:
        return bytes(data[: rng.randrange(len(data) + 1)])
    for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
        i = rng.randrange(len(data))
        if kind < 0.55:
            data[i] = rng.randrange(256)
        elif kind < 0.85:
            data[i] ^= 1 << rng.randrange(8)
        else:
            data[i:i + 4] = rng.choice((b"\xff\xff\xff\x7f", b"\x00\x00\x00\x00", b"\xff\xff\xff\xff"))
    return bytes(data)


def _fuzz(tmp_path, n, seed):
    rng = random.Random(seed)
    bases = _base_files(tmp_path)
    path = str(tmp_path / "fuzzed.pth")
    outcomes = collections.Counter()
    for _ in range(n):
        with open(path, "wb") as f:
            f.write(_mutate(rng, rng.choice(bases)))
        try:
            load_torch_state_dict(path)
            outcomes["loaded"] += 1
        except TorchFileError as e:            # UnsafePickleError is a TorchFileError too
            assert "fuzzed.pth" in str(e), f"the message does not name the file: {e}"
            outcomes[type(e).__name__] += 1
    return outcomes


def test_fuzzed_files_raise_only_torch_file_errors(tmp_path):
    outcomes = _fuzz(tmp_path, 2000, seed=0)
    assert sum(outcomes.values()) == 2000 and outcomes["TorchFileError"] > 500, outcomes


@pytest.mark.slow
def test_fuzzed_files_raise_only_torch_file_errors_long(tmp_path):
    outcomes = _fuzz(tmp_path, 50000, seed=1)
    assert sum(outcomes.values()) == 50000, outcomes


# --------------------------------------------------------------------------
# TorchScript archives: their parameters, read without running their code (issue 17)
# --------------------------------------------------------------------------

TINY_TORCHSCRIPT = os.path.join(FIX, "tiny_torchscript.pt")   # make_tiny_torchscript.py


def test_torchscript_parameters_are_read_without_torch():
    from tinygen.io.torch_pth import is_torchscript, load_torchscript_state_dict
    assert is_torchscript(TINY_TORCHSCRIPT) and not is_torchscript(os.path.join(FIX, "sd_zip.pth"))
    sd = load_torchscript_state_dict(TINY_TORCHSCRIPT)
    assert set(sd) == {"layers.0.weight", "layers.0.beta", "layers.0.mean", "conv.weight",
                       "conv.beta", "conv.mean", "steps", "view"}
    w = np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2)
    np.testing.assert_array_equal(sd["layers.0.weight"], w * np.float32(1 / 7))
    np.testing.assert_array_equal(sd["conv.weight"], w * np.float32(-0.25))
    np.testing.assert_array_equal(sd["view"], sd["conv.weight"][1, :, 0, :])   # a shared storage
    assert sd["layers.0.mean"].dtype == np.float64 and sd["steps"].dtype == np.int64
    assert sd["steps"].shape == () and int(sd["steps"]) == 7
    np.testing.assert_array_equal(sd["conv.beta"], f32(0.5, -1.5))


def test_torchscript_reader_matches_torch_jit_load(tmp_path):
    torch = pytest.importorskip("torch")
    from tinygen.io.torch_pth import load_torchscript_state_dict
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 5))
    path = str(tmp_path / "scripted.pt")
    torch.jit.script(net).save(path)
    for file in (path, TINY_TORCHSCRIPT):
        ref = torch.jit.load(file).state_dict()
        sd = load_torchscript_state_dict(file)
        assert set(sd) == set(ref)
        for k, v in ref.items():
            np.testing.assert_array_equal(sd[k], v.numpy(), err_msg=k)
            assert sd[k].dtype == v.numpy().dtype


def test_a_torchscript_object_that_needs_code_is_refused(tmp_path):
    from tinygen.io.torch_pth import load_torchscript_state_dict
    custom = Call(Ref("__torch__.Packed"), (), state=(1, 2))     # BUILD with a __setstate__ tuple
    root = Call(Ref("__torch__.Net"), (), state={"packed": custom})
    path = write_zip(tmp_path / "packed.pt", root,
                     extra={"archive/constants.pkl": dumps(()), "archive/code/__torch__.py": "x"})
    with pytest.raises(TorchFileError, match=r"packed.pt.*__torch__.Packed has a custom state.*"
                                             r"needs the archive's code"):
        load_torchscript_state_dict(path)
    with pytest.raises(TorchFileError, match="not a TorchScript archive"):
        load_torchscript_state_dict(os.path.join(FIX, "sd_zip.pth"))
    with pytest.raises(TorchFileError, match=r"load_torchscript_state_dict\(path\)"):
        load_torch_state_dict(TINY_TORCHSCRIPT)       # the .pth reader names the right one
