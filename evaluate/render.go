package evaluate

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"path/filepath"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"trashsort/atomicfile"
	"trashsort/data"
)

// WriteConfusionPNG draws the confusion matrix as a heat map: each cell
// shaded by its share of the true class's images, with the count and that
// share (the row-normalized percentage) written in.
func (r *Report) WriteConfusionPNG(path string) error {
	k := len(r.Classes)
	const cell, left, top = 76, 90, 40
	img := image.NewRGBA(image.Rect(0, 0, left+k*cell+10, top+k*cell+30))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	d := &font.Drawer{Dst: img, Src: image.Black, Face: basicfont.Face7x13}
	text := func(s string, x, y int, c color.Color) {
		d.Src = image.NewUniform(c)
		d.Dot = fixed.P(x, y)
		d.DrawString(s)
	}
	text("true \\ predicted", 4, 14, color.Black)
	for j, c := range r.Classes {
		text(trim(c.Class), left+j*cell+4, top-8, color.Black)
	}
	for i, row := range r.Confusion {
		total := 0
		for _, v := range row {
			total += v
		}
		text(trim(r.Classes[i].Class), 4, top+i*cell+cell/2+4, color.Black)
		for j, v := range row {
			frac := 0.0
			if total > 0 {
				frac = float64(v) / float64(total)
			}
			shade := uint8(255 - 200*frac)
			rect := image.Rect(left+j*cell, top+i*cell, left+(j+1)*cell-1, top+(i+1)*cell-1)
			draw.Draw(img, rect, image.NewUniform(color.RGBA{shade, shade, 255, 255}), image.Point{}, draw.Src)
			fg := color.Color(color.Black)
			if frac > 0.6 {
				fg = color.White
			}
			n := fmt.Sprint(v)
			pct := fmt.Sprintf("%.0f%%", 100*frac)
			text(n, rect.Min.X+cell/2-len(n)*7/2, rect.Min.Y+cell/2-2, fg)
			text(pct, rect.Min.X+cell/2-len(pct)*7/2, rect.Min.Y+cell/2+14, fg)
		}
	}
	text(fmt.Sprintf("accuracy %.2f%% on %d images; cells: count and %% of the true class", 100*r.Accuracy, r.Images), 4, top+k*cell+20, color.Black)
	return atomicfile.Write(path, func(w io.Writer) error { return png.Encode(w, img) })
}

func trim(s string) string {
	if len(s) > 9 {
		return s[:9]
	}
	return s
}

// thumbWidth is the width of the mistakes page's thumbnails.
const thumbWidth = 180

var mistakesPage = template.Must(template.New("m").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Most confident mistakes</title>
<style>body{font-family:sans-serif;margin:2em;background:#fafafa}
.cards{display:flex;flex-wrap:wrap;gap:1em}
figure{margin:0;padding:.5em;background:#fff;border:1px solid #ddd;border-radius:6px;width:180px;box-sizing:content-box}
figure.explained{width:368px}
.pics{display:flex;gap:8px}
img{width:180px;border-radius:4px;display:block}
figcaption{font-size:.85em;margin-top:.4em;overflow-wrap:anywhere;word-break:break-word}
.path{color:#555;font-family:monospace;font-size:.9em;display:block;max-height:3.6em;overflow:hidden}
b{color:#b00}.unsure{color:#a15c00}</style></head>
<body><h1>Most confident mistakes</h1><p>{{.Data}}: accuracy {{printf "%.2f" .Acc}}% on {{.Images}} images; {{len .Items}} shown{{if .Explained}}; beside each photo, where the model saw the predicted class (Grad-CAM on the last convolutional block: red is strong evidence){{end}}.</p>
<div class="cards">
{{range .Items}}<figure{{if .Overlay}} class="explained"{{end}}><div class="pics"><img src="{{.Src}}" alt="{{.Rel}}">{{if .Overlay}}<img src="{{.Overlay}}" alt="heat map of {{.Predicted}} for {{.Rel}}">{{end}}</div>
<figcaption><span class="path" title="{{.Path}}">{{.Rel}}</span>true <b>{{.True}}</b>, predicted <b>{{.Predicted}}</b> ({{printf "%.1f" .Pct}}%){{if .Unsure}} <span class="unsure">below the threshold: answered "unsure"</span>{{end}}</figcaption></figure>
{{end}}</div></body></html>
`))

// WriteMistakesHTML writes a self-contained page with thumbnails of the
// most confident mistakes (and their Grad-CAM overlays when explained);
// captions show the path relative to the data folder, the full path on hover.
func (r *Report) WriteMistakesHTML(path string) error {
	type item struct {
		Mistake
		Src, Overlay template.URL
		Rel          string
		Pct          float64
		Unsure       bool
	}
	var items []item
	explained := false
	for _, m := range r.Mistakes {
		src := ""
		if img, err := data.DecodeFile(m.Path); err == nil {
			th := data.Resize(img, thumbWidth, thumbWidth*img.H/max(img.W, 1), data.Bilinear)
			var b bytes.Buffer
			if err := th.Encode(&b, 80); err == nil {
				src = "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(b.Bytes())
			}
		}
		rel, err := filepath.Rel(r.Data, m.Path)
		if err != nil || strings.HasPrefix(rel, "..") {
			rel = m.Path
		}
		explained = explained || m.overlay != ""
		items = append(items, item{Mistake: m, Src: template.URL(src), Overlay: template.URL(m.overlay), Rel: rel, Pct: 100 * m.Confidence,
			Unsure: m.Confidence < r.Calibration.MinConfidence})
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		return mistakesPage.Execute(w, map[string]any{"Data": r.Data, "Acc": 100 * r.Accuracy, "Images": r.Images, "Items": items, "Explained": explained})
	})
}
