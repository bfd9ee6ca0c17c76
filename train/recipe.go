package train

import (
	"fmt"
	"strings"

	"trashsort/models"
)

// Recipe is a named preset of training settings, measured on TrashNet's
// validation split (docs/EXPERIMENTS.md). Apply writes its settings into a
// Config; a caller that lets people choose some settings themselves sets
// those after Apply, so that theirs win.
type Recipe struct {
	// Name is how the recipe is asked for (trashsort train --recipe NAME).
	Name string
	// Summary says in a line what the recipe is.
	Summary string
	// Members is the number of models the recipe trains, with consecutive
	// seeds, to be used together as an ensemble; 1 trains one model.
	Members int
	// general applies to every backbone; byBackbone after it, for the
	// backbone it names (layer names and sizes are a backbone's own).
	general    func(*Config)
	byBackbone map[string]func(*Config)
}

// Apply sets the recipe's settings on c for c.Backbone (models.Default()
// when empty). Augmentation settings go into c.Augment, and only when it
// is not nil: a Config without augmentation keeps none.
func (r Recipe) Apply(c *Config) {
	if r.general != nil {
		r.general(c)
	}
	bb := c.Backbone
	if bb == "" {
		bb = models.Default()
	}
	if f := r.byBackbone[bb]; f != nil {
		f(c)
	}
}

// The recipes. seed is the classic Keras recipe as Config's zero values and
// the command's defaults leave it. tuned is the recipe measured best on
// TrashNet's validation split within the default job's time: the seed
// recipe plus more head epochs, a ten times larger fine-tuning rate for
// more epochs, stronger augmentation, dropout, label smoothing, mixup and a
// moving average of the weights, eight cached views; for InceptionV3 its
// native 299 px input (four views, 8 + 8 epochs, which keeps the job near
// the time of 224 px's 8 views and 5 + 14 epochs), fine-tuning from mixed8
// (layer 229) rather than mixed9, predictions averaged over 299, 331 and
// 363 px (sizes 32k + 11 keep InceptionV3's stride-2 grids whole), and the
// training convolutions in mixed precision, which pays for the two extra
// epochs. fast is tuned at half the time: InceptionV3 at 235 px (32k + 11)
// with two views, predicting at 235 px; other backbones get tuned's
// settings with two views. max is tuned trained three times as an ensemble
// (the horizontal flip at evaluation gained nothing on average for single
// models, so it is left to the caller).
var recipes = []Recipe{
	{Name: "seed", Summary: "the classic Keras recipe's settings", Members: 1},
	{Name: "tuned", Summary: "the settings measured best on TrashNet in the default job's time", Members: 1,
		general: tunedGeneral, byBackbone: map[string]func(*Config){"inception_v3": tunedInceptionV3}},
	{Name: "fast", Summary: "tuned at half that time (InceptionV3 at 235 px, two views)", Members: 1,
		general: func(c *Config) {
			tunedGeneral(c)
			c.CacheFeatures = 2
		},
		byBackbone: map[string]func(*Config){"inception_v3": func(c *Config) {
			tunedInceptionV3(c)
			c.Size, c.CacheFeatures, c.TestSizes = 235, 2, []int{235}
		}}},
	{Name: "max", Summary: "tuned three times as an ensemble", Members: 3,
		general: tunedGeneral, byBackbone: map[string]func(*Config){"inception_v3": tunedInceptionV3}},
}

func tunedGeneral(c *Config) {
	c.Epochs1, c.Epochs2, c.LR2, c.CacheFeatures = 5, 14, 1e-3, 8
	c.Head.Dropout, c.LabelSmoothing, c.EMA, c.Mixup = 0.5, 0.1, 0.995, 0.2
	if c.Augment != nil {
		c.Augment.VerticalFlip, c.Augment.RotationRange = true, 20
	}
}

func tunedInceptionV3(c *Config) {
	c.UnfreezeFrom, c.Size, c.CacheFeatures, c.Epochs1, c.Epochs2 = "conv2d_73", 299, 4, 8, 8
	c.TestSizes, c.TrainBF16 = []int{299, 331, 363}, true
}

// Recipes returns the presets, from the classic recipe to the largest.
func Recipes() []Recipe {
	return append([]Recipe(nil), recipes...)
}

// RecipeNamed returns the preset called name.
func RecipeNamed(name string) (Recipe, error) {
	var names []string
	for _, r := range recipes {
		if r.Name == name {
			return r, nil
		}
		names = append(names, r.Name)
	}
	return Recipe{}, fmt.Errorf("no recipe %q: want %s", name, strings.Join(names, ", "))
}
