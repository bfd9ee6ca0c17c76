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

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"trashsort/atomicfile"
	"trashsort/data"
)

// WriteConfusionPNG draws the confusion matrix as a heat map: each cell
// shaded by its share of the true class's images, with the count written in.
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
			text(fmt.Sprint(v), rect.Min.X+cell/2-8, rect.Min.Y+cell/2+4, fg)
		}
	}
	text(fmt.Sprintf("accuracy %.2f%% on %d images", 100*r.Accuracy, r.Images), 4, top+k*cell+20, color.Black)
	return atomicfile.Write(path, func(w io.Writer) error { return png.Encode(w, img) })
}

func trim(s string) string {
	if len(s) > 9 {
		return s[:9]
	}
	return s
}

var mistakesPage = template.Must(template.New("m").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Most confident mistakes</title>
<style>body{font-family:sans-serif;margin:2em}figure{display:inline-block;margin:.5em;width:180px;vertical-align:top}
img{width:180px;border-radius:4px}figcaption{font-size:.85em}b{color:#b00}</style></head>
<body><h1>Most confident mistakes</h1><p>{{.Data}}: accuracy {{printf "%.2f" .Acc}}% on {{.Images}} images; {{len .Items}} shown.</p>
{{range .Items}}<figure><img src="{{.Src}}" alt="{{.Path}}"><figcaption>{{.Path}}<br>true <b>{{.True}}</b>, predicted <b>{{.Predicted}}</b> ({{printf "%.1f" .Pct}}%)</figcaption></figure>
{{end}}</body></html>
`))

// WriteMistakesHTML writes a self-contained page with thumbnails of the most confident mistakes.
func (r *Report) WriteMistakesHTML(path string) error {
	type item struct {
		Mistake
		Src template.URL
		Pct float64
	}
	var items []item
	for _, m := range r.Mistakes {
		src := ""
		if img, err := data.DecodeFile(m.Path); err == nil {
			th := data.Resize(img, 180, 180*img.H/max(img.W, 1), data.Bilinear)
			var b bytes.Buffer
			if err := th.Encode(&b, 80); err == nil {
				src = "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(b.Bytes())
			}
		}
		items = append(items, item{Mistake: m, Src: template.URL(src), Pct: 100 * m.Confidence})
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		return mistakesPage.Execute(w, map[string]any{"Data": r.Data, "Acc": 100 * r.Accuracy, "Images": r.Images, "Items": items})
	})
}
