"""Image ingestion with real bad files: each is refused with a precise AssetError and the assets stay as they were;
good but unusual files (CMYK, 16-bit, EXIF-rotated, palette with transparency) come out as upright 8-bit PNGs."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flowdrafter.core.errors import AssetError
from flowdrafter.core.images import import_image, load_asset_image
from flowdrafter.core.settings import get_settings


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def raw_png(width: int, height: int, bit_depth: int, color_type: int, rows: bytes) -> bytes:
    """A PNG written by hand, for what Pillow will not write (16-bit RGB) or should not (a lying header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b"")
    )


def red_blue(size=(48, 32)) -> Image.Image:
    img = Image.new("RGB", size, (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))
    return img


def assets(project) -> list[str]:
    return sorted(p.name for p in project.assets_dir.iterdir())


def stored(project, rel: str) -> Image.Image:
    assert rel.startswith("assets/") and rel.endswith(".png")
    img = Image.open(project.root / rel)
    assert img.format == "PNG"
    return img


# -- refused, precisely, touching nothing --------------------------------------------------------------

GOOD_PNG = encode(red_blue(), "PNG")
GOOD_JPEG = encode(Image.effect_noise((64, 64), 60).convert("RGB"), "JPEG")

BAD = [
    ("truncated png", GOOD_PNG[: len(GOOD_PNG) // 2], "truncated png is damaged (truncated)"),
    ("truncated jpeg", GOOD_JPEG[: len(GOOD_JPEG) // 2], "truncated jpeg is damaged (truncated)"),
    ("notes.txt", b"shopping list: milk, eggs, flour", "notes.txt is not an image (PNG, JPEG or WebP expected)"),
    ("fake.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "fake.png is not an image (PNG, JPEG or WebP expected)"),
    ("empty.png", b"", "empty.png is empty"),
    ("bomb.png", raw_png(100_000, 100_000, 8, 2, b"\x00" * 100),
     "bomb.png is a decompression bomb (too many pixels); refused"),
    ("huge.png", raw_png(7000, 7000, 8, 2, b"\x00" * 100), "huge.png is 7000x7000 = 49 megapixels; the limit is 40 megapixels"),
    ("anim.gif", encode(red_blue(), "GIF"), "anim.gif is GIF; only PNG, JPEG and WebP are accepted"),
    ("paint.bmp", encode(red_blue(), "BMP"), "paint.bmp is BMP; only PNG, JPEG and WebP are accepted"),
    ("scan.tiff", encode(red_blue(), "TIFF"), "scan.tiff is TIFF; only PNG, JPEG and WebP are accepted"),
]


@pytest.mark.parametrize("name, data, expected", BAD, ids=[b[0] for b in BAD])
def test_bad_bytes_are_refused_and_assets_unchanged(project, name, data, expected):
    (project.assets_dir / "existing.png").write_bytes(GOOD_PNG)
    before = assets(project)
    with pytest.raises(AssetError) as info:
        import_image(project, data, name=name)
    assert str(info.value) == expected
    assert assets(project) == before


@pytest.mark.parametrize("name, data, expected", BAD[:3], ids=[b[0] for b in BAD[:3]])
def test_bad_files_on_disk_are_refused_by_their_file_name(project, tmp_path, name, data, expected):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(AssetError) as info:
        import_image(project, path)
    assert str(info.value) == expected
    assert assets(project) == []


def test_a_50_mb_file_is_refused_before_it_is_read(project, tmp_path):
    big = tmp_path / "holiday.png"
    with open(big, "wb") as f:
        f.write(GOOD_PNG)
        f.truncate(50 * 2**20)  # 50 MB on disk (sparse): its size alone must refuse it
    with pytest.raises(AssetError) as info:
        import_image(project, big)
    assert str(info.value) == "holiday.png is 50 MB; the limit is 25 MB"
    with pytest.raises(AssetError) as info:
        import_image(project, GOOD_PNG + bytes(50 * 2**20), name="upload.png")
    assert str(info.value) == "upload.png is 50 MB; the limit is 25 MB"
    assert assets(project) == []


def test_limits_come_from_settings(project, monkeypatch):
    monkeypatch.setenv("FLOWDRAFTER_MAX_IMAGE_PIXELS", "4096")
    get_settings.cache_clear()
    with pytest.raises(AssetError) as info:
        import_image(project, encode(Image.new("RGB", (100, 100)), "PNG"), name="a.png")
    assert str(info.value) == "a.png is 100x100 = 10,000 pixels; the limit is 4,096 pixels"
    assert import_image(project, encode(Image.new("RGB", (64, 64)), "PNG"), name="b.png")


def test_missing_and_non_files(project, tmp_path):
    with pytest.raises(AssetError) as info:
        import_image(project, tmp_path / "nope.png")
    assert str(info.value) == f"{tmp_path / 'nope.png'} does not exist"
    with pytest.raises(AssetError) as info:
        import_image(project, tmp_path)
    assert str(info.value) == f"{tmp_path} is not a file"


# -- accepted, normalized ------------------------------------------------------------------------------


def test_png_is_stored_under_its_content_hash(project):
    rel = import_image(project, GOOD_PNG)
    img = stored(project, rel)
    assert img.mode == "RGB" and img.size == (48, 32)
    assert img.getpixel((0, 0)) == (255, 0, 0) and img.getpixel((47, 0)) == (0, 0, 255)
    assert import_image(project, GOOD_PNG) == rel  # same pixels, same file
    lossless_webp = encode(red_blue(), "WEBP", lossless=True)
    assert import_image(project, lossless_webp) == rel  # same pixels from another format: still one file
    assert assets(project) == [Path(rel).name]


def test_cmyk_jpeg_becomes_rgb(project):
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # no cyan, full magenta and yellow: red
    img = stored(project, import_image(project, encode(cmyk, "JPEG", quality=95)))
    assert img.mode == "RGB"
    r, g, b = img.getpixel((8, 8))
    assert r > 240 and g < 15 and b < 15


def test_16_bit_grey_png_is_scaled_not_clipped(project):
    values = np.array([[0, 257 * 64, 257 * 200, 65535]], dtype=np.uint16).repeat(4, axis=0)
    data = encode(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")  # really 16-bit
    img = stored(project, import_image(project, data))
    assert img.mode == "RGB"
    assert [img.getpixel((x, 0)) for x in range(4)] == [(0, 0, 0), (64, 64, 64), (200, 200, 200), (255, 255, 255)]


def test_dark_16_bit_png_stays_dark(project):
    values = np.full((4, 4), 200, dtype=np.uint16)  # 200 of 65535: nearly black, not 200 of 255
    img = stored(project, import_image(project, encode(Image.fromarray(values), "PNG")))
    assert img.getpixel((0, 0)) == (1, 1, 1)


def test_16_bit_rgb_png_keeps_its_colours(project):
    pixel = struct.pack(">HHH", 65535, 257 * 128, 0)  # orange, 16 bits per channel
    rows = b"".join(b"\x00" + pixel * 4 for _ in range(3))
    img = stored(project, import_image(project, raw_png(4, 3, 16, 2, rows)))
    assert img.mode == "RGB" and img.getpixel((3, 2)) == (255, 128, 0)


def test_exif_rotated_jpeg_is_stored_upright(project):
    sideways = red_blue((40, 20))  # stored: red on the left; orientation 6: display rotated 90 degrees clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    img = stored(project, import_image(project, encode(sideways, "JPEG", exif=exif.tobytes(), quality=95)))
    assert img.size == (20, 40)  # upright: taller than wide
    top, bottom = img.getpixel((10, 5)), img.getpixel((10, 35))
    assert top[0] > 200 and top[2] < 50  # the left half is now on top
    assert bottom[2] > 200 and bottom[0] < 50
    assert 0x0112 not in img.getexif()  # no second rotation by anyone reading the PNG


def test_palette_with_transparency_becomes_rgba(project):
    pal = Image.new("P", (8, 8), 0)
    pal.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    pal.paste(1, (4, 0, 8, 8))
    img = stored(project, import_image(project, encode(pal, "PNG", transparency=0)))
    assert img.mode == "RGBA"
    assert img.getpixel((0, 0))[3] == 0 and img.getpixel((6, 0)) == (0, 255, 0, 255)


def test_grey_with_alpha_and_colour_key_become_rgba(project):
    la = Image.new("LA", (4, 4), (128, 100))
    assert stored(project, import_image(project, encode(la, "PNG"))).getpixel((0, 0)) == (128, 128, 128, 100)
    keyed = Image.new("RGB", (4, 4), (10, 20, 30))
    img = stored(project, import_image(project, encode(keyed, "PNG", transparency=(10, 20, 30))))
    assert img.mode == "RGBA" and img.getpixel((0, 0))[3] == 0


def test_rgba_png_keeps_alpha_and_plain_jpeg_is_rgb(project):
    rgba = Image.new("RGBA", (8, 8), (1, 2, 3, 77))
    assert stored(project, import_image(project, encode(rgba, "PNG"))).getpixel((0, 0)) == (1, 2, 3, 77)
    assert stored(project, import_image(project, GOOD_JPEG)).mode == "RGB"


# -- reading assets back --------------------------------------------------------------------------------


def test_load_asset_image_checks_like_ingestion(project, tmp_path):
    rel = import_image(project, GOOD_PNG)
    assert load_asset_image(project, rel).size == (48, 32)
    (project.assets_dir / "broken.png").write_bytes(GOOD_PNG[: len(GOOD_PNG) // 2])
    with pytest.raises(AssetError, match=r"^assets/broken.png is damaged"):
        load_asset_image(project, "assets/broken.png")
    (tmp_path / "outside.png").write_bytes(GOOD_PNG)
    (project.assets_dir / "link.png").symlink_to(tmp_path / "outside.png")
    with pytest.raises(AssetError, match="leaves the project folder"):
        load_asset_image(project, "assets/link.png")
    with pytest.raises(AssetError, match="must not contain '..'"):
        load_asset_image(project, "../outside.png")


def test_storing_into_an_assets_symlink_that_leaves_is_refused(project, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    project.assets_dir.rmdir()
    project.assets_dir.symlink_to(outside)
    with pytest.raises(AssetError, match="leaves the project folder"):
        import_image(project, GOOD_PNG)
    assert list(outside.iterdir()) == []


def test_metadata_bombs_are_refused(project):
    pixels = b"".join(b"\x00" + b"\x10\x20\x30" * 4 for _ in range(4))
    good = raw_png(4, 4, 8, 2, pixels)
    for chunk in (
        png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"A" * 20_000_000, 9)),  # 20 MB of text in 20 kB
        png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(b"A" * 20_000_000, 9)),
    ):
        with pytest.raises(AssetError) as info:
            import_image(project, good[:33] + chunk + good[33:], name="meta.png")  # after IHDR
        assert str(info.value) == "meta.png is a decompression bomb (a metadata block inflates too far); refused"
    assert assets(project) == []


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_randomly_damaged_files_are_refused_or_read_never_a_crash(project, fmt):
    import random

    rng = random.Random(fmt)
    data = bytearray(encode(Image.effect_noise((32, 24), 40).convert("RGB"), fmt))
    for _ in range(150):
        bad = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            bad[rng.randrange(len(bad))] = rng.randrange(256)
        if rng.random() < 0.3:
            bad = bad[: rng.randrange(len(bad))]
        try:
            rel = import_image(project, bytes(bad), name="damaged")
        except AssetError as err:
            assert str(err).startswith("damaged ")
        else:
            assert stored(project, rel).mode in ("RGB", "RGBA")
