"""A small ray caster for the 3D Shapes scene (Burgess and Kim 2018), in torch.

The scene: a floor (the plane y = 0), a room of three walls of one hue (a back wall at
z = ``back`` and two side walls at x = +-``side``, ``wall_height`` high), a pale sky
above them, and one object standing on the floor at the origin: a cube, a cylinder, a
sphere or a capsule whose size is proportional to the scale factor.  The camera orbits
the vertical axis through the object (the orientation factor, in degrees) and looks at
a fixed point above it.  A spotlight fixed in the room, aimed at the object's foot
(intensity ``cos(angle off its axis)^spot``), casts the object's shadow (where the
spotlight is gone and the rest of the light dimmed by the fraction ``shadow``), and a
headlight at the camera adds light along the view; shading is Lambert's.

Rendering is split in two passes so that the 480,000 images need not be stored:

1. :func:`render_weights` traces a geometry (orientation, shape, scale), supersampled,
   and returns per pixel how much light each *surface* sends: floor, walls, object and
   sky weights, float [G, H, W, 4] (coverage times shading).
2. :func:`colorize` turns weights and three hues into RGB: the floor, wall and object
   colours are ``hsv(hue, 1, 1)``, the sky a fixed colour, and a pixel is
   ``sum_s weight_s * colour_s``, clipped to [0, 1] and rounded to 8 bits.

Every colour is linear in the weights, so the two passes give exactly the image one
pass would.  The constants in :data:`SCENE` were fitted to the genuine frames of the
dataset's README animation (``benchmarks/calibrate_shapes3d.py``).
"""

import math

import torch

SHAPES = ("cube", "cylinder", "sphere", "capsule")
SURFACES = ("floor", "wall", "object", "sky")

#: Camera, room, object sizes and lights; distances in units of the object at scale 1
#: (the camera at orientation 0 stands on the negative z axis, the back wall at +z).
SCENE = {
    "camera_distance": 5.932, "camera_height": 1.621, "target_height": 1.056, "fov": 28.5,
    "back": 3.82, "side": 3.501, "wall_height": 1.741,
    "cube": 0.94, "cylinder_radius": 0.462, "cylinder_height": 1.042, "sphere_radius": 0.583,
    "capsule_radius": 0.405, "capsule_height": 1.765,
    "light": (-2.626, 11.557, 0.4), "spot": 24.0, "ambient": 0.485, "headlight": 0.466,
    "diffuse": 0.78, "shadow": 0.463, "sky": (153 / 255, 226 / 255, 249 / 255),
}

_INF = float("inf")


def hsv_colors(hue):
    """``hsv(hue, 1, 1)`` as RGB: hue float [...] in [0, 1) -> float [..., 3]."""
    k = torch.stack([torch.full_like(hue, n) for n in (5.0, 3.0, 1.0)], -1)
    k = torch.remainder(k + hue.unsqueeze(-1) * 6.0, 6.0)
    return 1.0 - torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0)


def _dot(a, b):
    return (a * b).sum(-1)


def _normalize(v):
    return v / v.norm(dim=-1, keepdim=True)


def _sphere(o, d, center, radius):
    """Nearest positive hit of rays (o, d [..., 3], d unit) with spheres; t [...] (inf on
    a miss) and the outward normal [..., 3]."""
    oc = o - center
    b = _dot(oc, d)
    c = _dot(oc, oc) - radius ** 2
    disc = b * b - c
    sq = torch.sqrt(torch.clamp(disc, min=0.0))
    t = torch.where(-b - sq > 1e-4, -b - sq, -b + sq)
    t = torch.where((disc >= 0) & (t > 1e-4), t, torch.full_like(t, _INF))
    return t, (o + d * t.clamp(max=1e6).unsqueeze(-1) - center) / radius.unsqueeze(-1)


def _cylinder_side(o, d, radius, y0, y1):
    """Hit of rays with the side of the vertical cylinder x^2 + z^2 = r^2, y0 <= y <= y1."""
    a = d[..., 0] ** 2 + d[..., 2] ** 2
    b = o[..., 0] * d[..., 0] + o[..., 2] * d[..., 2]
    c = o[..., 0] ** 2 + o[..., 2] ** 2 - radius ** 2
    disc = b * b - a * c
    sq = torch.sqrt(torch.clamp(disc, min=0.0))
    a = a.clamp(min=1e-12)
    best = torch.full_like(a, _INF)
    for t in ((-b + sq) / a, (-b - sq) / a):  # the nearer root wins: taken last
        y = o[..., 1] + t * d[..., 1]
        ok = (disc >= 0) & (t > 1e-4) & (y >= y0) & (y <= y1)
        best = torch.where(ok & (t < best), t, best)
    p = o + d * best.clamp(max=1e6).unsqueeze(-1)
    n = torch.stack([p[..., 0], torch.zeros_like(a), p[..., 2]], -1) / radius.unsqueeze(-1)
    return best, n


def _disc(o, d, height, radius, up):
    """Hit of rays with the horizontal disc at ``height`` (normal +y if up else -y)."""
    dy = torch.where(d[..., 1].abs() < 1e-12, torch.full_like(d[..., 1], 1e-12), d[..., 1])
    t = (height - o[..., 1]) / dy
    p = o + d * t.clamp(-1e6, 1e6).unsqueeze(-1)
    ok = (t > 1e-4) & (p[..., 0] ** 2 + p[..., 2] ** 2 <= radius ** 2)
    t = torch.where(ok, t, torch.full_like(t, _INF))
    n = torch.zeros_like(o)
    n[..., 1] = 1.0 if up else -1.0
    return t, n


def _nearest(*hits):
    t, n = hits[0]
    for t2, n2 in hits[1:]:
        closer = t2 < t
        t = torch.where(closer, t2, t)
        n = torch.where(closer.unsqueeze(-1), n2, n)
    return t, n


def _box(o, d, half, height):
    """Hit of rays with the box |x|, |z| <= half, 0 <= y <= height (slab method)."""
    lo = torch.stack([-half, torch.zeros_like(half), -half], -1)
    hi = torch.stack([half, height, half], -1)
    inv = 1.0 / torch.where(d.abs() < 1e-12, torch.full_like(d, 1e-12), d)
    t0, t1 = (lo - o) * inv, (hi - o) * inv
    tmin, tmax = torch.minimum(t0, t1), torch.maximum(t0, t1)
    enter, axis = tmin.max(-1)
    leave = tmax.min(-1).values
    ok = (enter <= leave) & (enter > 1e-4)
    t = torch.where(ok, enter, torch.full_like(enter, _INF))
    n = torch.nn.functional.one_hot(axis, 3).to(o.dtype) * -torch.sign(
        torch.gather(d, -1, axis.unsqueeze(-1)))
    return t, n


def hit_object(shape, o, d, scale, scene=SCENE):
    """Nearest hit of rays with the object of ``shape`` (index into :data:`SHAPES`).

    Parameters
    ----------
    o, d : Tensor [G, P, 3]
        Ray origins and unit directions.
    scale : Tensor [G, 1]
        The object's scale factor.

    Returns
    -------
    t : Tensor [G, P], inf where the ray misses.
    normal : Tensor [G, P, 3]
    """
    zero = torch.zeros_like(scale)
    if shape == 0:
        side = scene["cube"] * scale
        return _box(o, d, side / 2, side)
    if shape == 1:
        r, h = scene["cylinder_radius"] * scale, scene["cylinder_height"] * scale
        return _nearest(_cylinder_side(o, d, r, zero, h), _disc(o, d, h, r, True))
    if shape == 2:
        r = scene["sphere_radius"] * scale
        return _sphere(o, d, torch.stack([zero, r, zero], -1), r)
    if shape == 3:
        r, h = scene["capsule_radius"] * scale, scene["capsule_height"] * scale
        low, high = r, torch.maximum(h - r, r)
        return _nearest(_cylinder_side(o, d, r, low, high),
                        _sphere(o, d, torch.stack([zero, low, zero], -1), r),
                        _sphere(o, d, torch.stack([zero, high, zero], -1), r))
    raise ValueError(f"shape must be 0..3 ({', '.join(SHAPES)}), got {shape}")


def _room(o, d, scene):
    """Hits with the floor and the walls: t [G, P], normal [..., 3], surface [G, P]
    (0 floor, 1 wall, 3 sky where no wall or floor is hit)."""
    big = torch.full_like(o[..., 0], _INF)
    hits, surfaces = [], []
    dy = torch.where(d[..., 1] < -1e-9, d[..., 1], torch.full_like(big, -1e-9))
    t = -o[..., 1] / dy
    n = torch.zeros_like(o)
    n[..., 1] = 1.0
    hits.append((torch.where(d[..., 1] < -1e-9, t, big), n))
    surfaces.append(0)
    for axis, plane, sign in ((2, scene["back"], -1.0), (0, scene["side"], -1.0),
                              (0, -scene["side"], 1.0)):
        da = d[..., axis]
        safe = torch.where(da.abs() < 1e-9, torch.full_like(da, 1e-9), da)
        t = (plane - o[..., axis]) / safe
        y = o[..., 1] + t.clamp(-1e6, 1e6) * d[..., 1]
        ok = (t > 1e-4) & (y >= 0) & (y <= scene["wall_height"])
        n = torch.zeros_like(o)
        n[..., axis] = sign
        hits.append((torch.where(ok, t, big), n))
        surfaces.append(1)
    t, n = hits[0]
    surface = torch.zeros_like(t, dtype=torch.long)
    for (t2, n2), s in zip(hits[1:], surfaces[1:]):
        closer = t2 < t
        t = torch.where(closer, t2, t)
        n = torch.where(closer.unsqueeze(-1), n2, n)
        surface = torch.where(closer, torch.full_like(surface, s), surface)
    surface = torch.where(torch.isinf(t), torch.full_like(surface, 3), surface)
    return t, n, surface


def camera_rays(orientation, size=64, samples=3, scene=SCENE):
    """Rays of the camera at each orientation (degrees, [G]) through ``samples`` x
    ``samples`` points of every pixel: origins [G, P, 3] and unit directions [G, P, 3],
    P = (size * samples)^2 in row-major order of the supersampled image."""
    theta = torch.deg2rad(orientation.to(torch.float64))
    dist = scene["camera_distance"]
    eye = torch.stack([dist * torch.sin(theta), torch.full_like(theta, scene["camera_height"]),
                       -dist * torch.cos(theta)], -1)  # [G, 3]
    target = torch.tensor([0.0, scene["target_height"], 0.0], dtype=torch.float64)
    forward = _normalize(target - eye)
    up = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64).expand_as(forward)
    right = _normalize(torch.cross(up, forward, dim=-1))
    true_up = torch.cross(forward, right, dim=-1)
    n = size * samples
    grid = (torch.arange(n, dtype=torch.float64) + 0.5) / n * 2 - 1
    half = math.tan(math.radians(scene["fov"]) / 2)
    v, u = torch.meshgrid(-grid * half, grid * half, indexing="ij")
    d = (forward[:, None, :] + u.reshape(1, -1, 1) * right[:, None, :]
         + v.reshape(1, -1, 1) * true_up[:, None, :])
    return eye[:, None, :].expand_as(d), _normalize(d)



def render_weights(orientation, shape, scale, size=64, samples=3, scene=SCENE):
    """Per-pixel surface weights of G geometries, float32 [G, size, size, 4].

    Parameters
    ----------
    orientation : Tensor [G]
        Camera angle around the object, degrees.
    shape : int
        The object (index into :data:`SHAPES`); one shape per call.
    scale : Tensor [G]
        The object's scale factor.

    Channel s of the result is the mean over a pixel's ``samples^2`` rays of
    ``[surface hit == s] * shading`` for s in :data:`SURFACES` (the sky's shading is 1).
    """
    o, d = camera_rays(orientation, size, samples, scene)
    scale = scale.to(torch.float64).reshape(-1, 1)
    t_room, n_room, surface = _room(o, d, scene)
    t_obj, n_obj = hit_object(shape, o, d, scale, scene)
    on_obj = t_obj < t_room
    t = torch.where(on_obj, t_obj, t_room)
    n = torch.where(on_obj.unsqueeze(-1), n_obj, n_room)
    surface = torch.where(on_obj, torch.full_like(surface, 2), surface)
    p = o + d * t.clamp(max=1e6).unsqueeze(-1)
    to_light = torch.tensor(scene["light"], dtype=torch.float64) - p
    dist_light = to_light.norm(dim=-1)
    to_light = to_light / dist_light.unsqueeze(-1)
    lambert = torch.clamp(_dot(n, to_light), min=0.0)
    if scene["spot"]:
        axis = -_normalize(torch.tensor(scene["light"], dtype=torch.float64))
        lambert = lambert * torch.clamp(-_dot(to_light, axis), min=0.0) ** scene["spot"]
    t_block, _ = hit_object(shape, p + 1e-4 * n, to_light, scale, scene)
    shadowed = (surface != 2) & (t_block < dist_light)
    head = torch.clamp(-_dot(n, d), min=0.0)  # the headlight shines along the rays
    fill = scene["ambient"] + scene["headlight"] * head
    # in the object's shadow the spotlight is gone and the rest dimmed by ``shadow``
    shade = torch.where(shadowed, fill * (1 - scene["shadow"]), fill + scene["diffuse"] * lambert)
    shade = torch.where(surface == 3, torch.ones_like(shade), shade)
    weights = torch.nn.functional.one_hot(surface, 4).to(torch.float64) * shade.unsqueeze(-1)
    g = weights.shape[0]
    weights = weights.reshape(g, size, samples, size, samples, 4).mean(dim=(2, 4))
    return weights.to(torch.float32)


def colorize(weights, floor_hue, wall_hue, object_hue, scene=SCENE):
    """RGB images from surface weights and hues.

    Parameters
    ----------
    weights : Tensor [B, H, W, 4]
        From :func:`render_weights` (any float dtype).
    floor_hue, wall_hue, object_hue : Tensor [B]
        Hues in [0, 1).

    Returns
    -------
    Tensor float32 [B, H, W, 3] in [0, 1], rounded to multiples of 1/255.
    """
    sky = torch.tensor(scene["sky"], dtype=torch.float32).expand(len(floor_hue), 3)
    colours = torch.stack([hsv_colors(floor_hue.float()), hsv_colors(wall_hue.float()),
                           hsv_colors(object_hue.float()), sky], 1)  # [B, 4, 3]
    rgb = torch.einsum("bhws,bsc->bhwc", weights.to(torch.float32), colours)
    return rgb.clamp_(0.0, 1.0).mul_(255.0).round_().div_(255.0)
