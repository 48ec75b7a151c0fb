#!/usr/bin/python3
"""Write tests/data/remap/resample/: torch results that daemon/remap/resample.cpp must reproduce.

Run with Debian's interpreter and packages (apt-get install python3-torch python3-numpy):
    /usr/bin/python3 tests/remap/generate_resample_goldens.py
The C++ tests read the committed files and do not need Python.

Output: index.json lists the cases; each names raw little-endian float32 files for its input
and its expected output, written with seeded torch.randn inputs.

interpolate_2d, resample_abs_pos_embed and the LeViT table resize call F.interpolate directly,
with the tensor layouts timm uses. timm is not installed here, so resize_rel_pos_bias_table is
re-implemented below from the algorithm in timm/layers/pos_embed_rel.py and
timm/layers/interpolate.py, with timm's default linear interpolator. The source positions lie on
a geometric progression whose ratio is found by bisection, the destination positions are
uniform, and each destination value interpolates bilinearly between the source positions that
torch.bucketize finds around it.
"""
import json
import pathlib

import torch
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "remap" / "resample"
SEED = 20240611

# (channels, in_h, in_w, out_h, out_w) for interpolate_2d, each run in all four modes.
INTERPOLATE_SHAPES = [
    (3, 14, 14, 24, 24),
    (3, 37, 37, 16, 16),
    (3, 7, 7, 12, 12),
    (3, 16, 16, 14, 14),
    (3, 3, 5, 7, 4),
    (2, 4, 9, 4, 3),
]
MODES = [("bicubic", True), ("bicubic", False), ("bilinear", True), ("bilinear", False)]

# (dim, prefix, in_h, in_w, out_h, out_w, mode, antialias) for resample_abs_pos_embed.
ABS_POS_CASES = [
    (8, 1, 14, 14, 24, 24, "bicubic", True),
    (4, 0, 37, 37, 16, 16, "bicubic", True),
    (5, 2, 3, 5, 7, 4, "bilinear", False),
    (6, 1, 7, 7, 12, 12, "bicubic", False),
]

# (src_window, heads, dst_window_h, dst_window_w, extra_rows) for resize_rel_pos_bias_table.
REL_POS_CASES = [
    (7, 3, 12, 12, 0),
    (7, 3, 12, 12, 3),
    (12, 3, 7, 7, 0),
    (7, 2, 6, 10, 3),
]

# (rows, heads, dst_rows) for resize_rel_pos_bias_table_levit.
LEVIT_CASES = [
    (49, 4, 196),
    (196, 3, 64),
]


class Writer:
    """Collects cases and writes each distinct tensor once."""

    def __init__(self):
        self.cases = []
        self.files = {}

    def tensor(self, name, tensor):
        data = tensor.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        file = name + ".bin"
        self.files[file] = data
        return file

    def case(self, **fields):
        self.cases.append(fields)

    def write(self):
        OUT.mkdir(parents=True, exist_ok=True)
        for old in OUT.glob("*.bin"):
            old.unlink()
        for file, data in sorted(self.files.items()):
            (OUT / file).write_bytes(data)
        index = {
            "generator": "tests/remap/generate_resample_goldens.py",
            "torch_version": torch.__version__,
            "seed": SEED,
            "cases": self.cases,
        }
        (OUT / "index.json").write_text(json.dumps(index, indent=1) + "\n")


def mode_tag(mode, antialias):
    return f"{mode}_{'aa' if antialias else 'plain'}"


def add_interpolate(writer):
    for channels, in_h, in_w, out_h, out_w in INTERPOLATE_SHAPES:
        x = torch.randn(channels, in_h, in_w)
        input_file = writer.tensor(f"input_{channels}x{in_h}x{in_w}", x)
        for mode, antialias in MODES:
            y = F.interpolate(x.unsqueeze(0), size=(out_h, out_w), mode=mode, align_corners=False,
                              antialias=antialias)[0]
            tag = mode_tag(mode, antialias)
            name = f"interpolate_{tag}_{in_h}x{in_w}_to_{out_h}x{out_w}"
            writer.case(name=name, family=f"interpolate_2d {tag}", function="interpolate_2d",
                        mode=mode, antialias=antialias, channels=channels, input_hw=[in_h, in_w],
                        output_hw=[out_h, out_w], input=input_file, expected=writer.tensor(name, y))


def resample_abs_pos_embed(table, prefix, in_hw, out_hw, mode, antialias):
    """Resample the grid rows of a (1, prefix + h * w, dim) table as timm does."""
    dim = table.shape[-1]
    prefix_rows, grid = table[:, :prefix], table[:, prefix:]
    # The permuted view is channels-last in memory, as in timm, so torch picks the same kernels.
    grid = grid.reshape(1, in_hw[0], in_hw[1], dim).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=out_hw, mode=mode, antialias=antialias)
    grid = grid.permute(0, 2, 3, 1).reshape(1, out_hw[0] * out_hw[1], dim)
    return torch.cat([prefix_rows, grid], dim=1)


def add_abs_pos(writer):
    for dim, prefix, in_h, in_w, out_h, out_w, mode, antialias in ABS_POS_CASES:
        table = torch.randn(1, prefix + in_h * in_w, dim)
        y = resample_abs_pos_embed(table, prefix, (in_h, in_w), (out_h, out_w), mode, antialias)
        name = f"abs_pos_{mode_tag(mode, antialias)}_p{prefix}_{in_h}x{in_w}_to_{out_h}x{out_w}"
        writer.case(name=name, family="resample_abs_pos_embed", function="resample_abs_pos_embed",
                    mode=mode, antialias=antialias, dim=dim, prefix=prefix, input_hw=[in_h, in_w],
                    output_hw=[out_h, out_w], input=writer.tensor(name + "_input", table[0]),
                    expected=writer.tensor(name, y[0]))


def progression_positions(src_side, dst_side):
    """Source sample positions: 0 and +-(1, 1 + q, 1 + q + q^2, ...), in Python floats.

    q is bisected in [1.01, 1.5] until the outermost position is near dst_side // 2. Like timm,
    this uses the last midpoint tried as the ratio, not either bound.
    """
    steps = src_side // 2
    low, high = 1.01, 1.5
    while high - low > 1e-6:
        ratio = (low + high) / 2.0
        outermost = (1.0 - ratio ** steps) / (1.0 - ratio)
        if outermost > dst_side // 2:
            high = ratio
        else:
            low = ratio
    offsets = []
    position = 1
    for k in range(1, steps + 1):
        offsets.append(position)
        position += ratio ** k
    return [-p for p in offsets[::-1]] + [0] + offsets


def bracket(points, targets):
    """Left and right source indices around each target and the distances to each, clamped at 0."""
    right = torch.bucketize(targets, points).clamp(max=points.shape[0] - 1)
    left = (right - 1).clamp(min=0)
    to_left = targets - points[left]
    to_right = points[right] - targets
    to_left[to_left < 0] = 0.0
    to_right[to_right < 0] = 0.0
    on_point = (to_left == 0) & (to_right == 0)
    to_left[on_point] = 1.0
    to_right[on_point] = 1.0
    return left, right, to_left, to_right


def resize_rel_pos_bias_table(table, dst_window, extra_rows):
    """timm's resize_rel_pos_bias_table for a flat (rows, heads) table and a square source."""
    dst_h, dst_w = 2 * dst_window[0] - 1, 2 * dst_window[1] - 1
    src_side = int((table.shape[0] - extra_rows) ** 0.5)
    if src_side == dst_h and src_side == dst_w:
        return table
    grid, extra = table[:table.shape[0] - extra_rows], table[table.shape[0] - extra_rows:]

    y_points = torch.tensor(progression_positions(src_side, dst_h))
    x_points = torch.tensor(progression_positions(src_side, dst_w))
    y_targets = torch.arange(-(dst_h // 2.0), dst_h // 2.0 + 0.1, 1.0)
    x_targets = torch.arange(-(dst_w // 2.0), dst_w // 2.0 + 0.1, 1.0)
    y_grid, x_grid = (t.contiguous() for t in torch.meshgrid(y_targets, x_targets, indexing="ij"))
    yl, yr, dyl, dyr = bracket(y_points, y_grid)
    xl, xr, dxl, dxr = bracket(x_points, x_grid)

    columns = []
    for head in range(table.shape[1]):
        z = grid[:, head].reshape(src_side, src_side).float()
        # Each corner is weighted by the product of its distances to the opposite corner.
        numerator = z[yl, xl] * torch.stack([dyr, dxr]).prod(dim=0)
        numerator = numerator + z[yl, xr] * torch.stack([dyr, dxl]).prod(dim=0)
        numerator = numerator + z[yr, xl] * torch.stack([dyl, dxr]).prod(dim=0)
        numerator = numerator + z[yr, xr] * torch.stack([dyl, dxl]).prod(dim=0)
        denominator = torch.stack([dyl + dyr, dxl + dxr]).prod(dim=0)
        columns.append((numerator / denominator).reshape(-1, 1))
    return torch.cat([torch.cat(columns, dim=1), extra])


def add_rel_pos(writer):
    for src_window, heads, dst_window_h, dst_window_w, extra_rows in REL_POS_CASES:
        src_rows = (2 * src_window - 1) ** 2 + extra_rows
        table = torch.randn(src_rows, heads)
        y = resize_rel_pos_bias_table(table, (dst_window_h, dst_window_w), extra_rows)
        name = f"rel_pos_w{src_window}_to_w{dst_window_h}x{dst_window_w}_extra{extra_rows}"
        writer.case(name=name, family="resize_rel_pos_bias_table", function="resize_rel_pos_bias_table",
                    src_rows=src_rows, heads=heads, dst_window=[dst_window_h, dst_window_w],
                    extra_rows=extra_rows, input=writer.tensor(name + "_input", table),
                    expected=writer.tensor(name, y))


def add_levit(writer):
    for rows, heads, dst_rows in LEVIT_CASES:
        table = torch.randn(rows, heads)
        side, dst_side = int(rows ** 0.5), int(dst_rows ** 0.5)
        grids = table.permute(1, 0).reshape(1, heads, side, side)
        y = F.interpolate(grids, size=(dst_side, dst_side), mode="bicubic", antialias=True)
        y = y.reshape(heads, dst_rows).permute(1, 0)
        name = f"levit_{rows}_to_{dst_rows}"
        writer.case(name=name, family="resize_rel_pos_bias_table_levit",
                    function="resize_rel_pos_bias_table_levit", rows=rows, heads=heads, dst_rows=dst_rows,
                    input=writer.tensor(name + "_input", table), expected=writer.tensor(name, y))


def main():
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    writer = Writer()
    add_interpolate(writer)
    add_abs_pos(writer)
    add_rel_pos(writer)
    add_levit(writer)
    writer.write()
    total = sum(len(data) for data in writer.files.values())
    print(f"wrote {len(writer.cases)} cases, {len(writer.files)} tensors, {total} bytes to {OUT}")


if __name__ == "__main__":
    main()
