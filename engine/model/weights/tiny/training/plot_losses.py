"""Plot vae_loss.csv and loss.csv (log-scale y) into one PNG, with numpy and OpenImageIO only."""
import csv, sys
import numpy as np
import OpenImageIO as oiio

def read(path, column):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return np.array([float(r["step"]) for r in rows]), np.array([float(r[column]) for r in rows])

def panel(buf, x0, y0, w, h, series, title):
    ImageBufAlgo = oiio.ImageBufAlgo
    ImageBufAlgo.render_box(buf, x0, y0, x0 + w, y0 + h, (0.6, 0.6, 0.6))
    allv = np.concatenate([s[1] for s in series]); allx = np.concatenate([s[0] for s in series])
    lo, hi = np.log10(allv.min()) - 0.05, np.log10(allv.max()) + 0.05
    xmax = allx.max()
    for decade in np.arange(np.floor(lo * 4) / 4, hi, 0.25):
        if decade < lo: continue
        y = int(y0 + h - (decade - lo) / (hi - lo) * h)
        ImageBufAlgo.render_line(buf, x0, y, x0 + w, y, (0.25, 0.25, 0.25))
        ImageBufAlgo.render_text(buf, x0 - 58, y + 5, "%.3g" % 10 ** decade, 13, "", (1, 1, 1))
    for (xs, vs, colour, name), k in zip(series, range(len(series))):
        px = x0 + xs / xmax * w; py = y0 + h - (np.log10(vs) - lo) / (hi - lo) * h
        for i in range(len(px) - 1):
            ImageBufAlgo.render_line(buf, int(px[i]), int(py[i]), int(px[i + 1]), int(py[i + 1]), colour)
        ImageBufAlgo.render_text(buf, x0 + w - 170, y0 + 20 + 18 * k, name, 14, "", colour)
    ImageBufAlgo.render_text(buf, x0, y0 - 8, title, 16, "", (1, 1, 1))
    ImageBufAlgo.render_text(buf, x0 + w - 60, y0 + h + 18, "step %d" % xmax, 13, "", (1, 1, 1))

vae_csv, unet_csv, out = sys.argv[1:4]
buf = oiio.ImageBuf(oiio.ImageSpec(1100, 420, 3, oiio.FLOAT))
s, l = read(vae_csv, "loss"); _, l1 = read(vae_csv, "l1"); _, l2 = read(vae_csv, "l2")
panel(buf, 70, 40, 430, 330, [(s, l, (1, 0.8, 0.2), "total"), (s, l1, (0.3, 0.8, 1), "L1"), (s, l2, (0.5, 1, 0.5), "L2")],
      "VAE pretraining (log y)")
s, l = read(unet_csv, "loss")
panel(buf, 630, 40, 430, 330, [(s, l, (1, 0.5, 0.5), "v MSE")], "U-Net training (log y)")
buf.write(out)
print(out)
