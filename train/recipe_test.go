package train

import (
	"fmt"
	"slices"
	"testing"

	"trashsort/data"
)

func TestRecipes(t *testing.T) {
	type want struct {
		size, views, epochs1, epochs2, members int
		unfreeze                               string
		testSizes                              []int
		lr2, dropout, ema, mixup               float64
		bf16, vflip                            bool
	}
	for _, tc := range []struct {
		recipe, backbone string
		want             want
	}{
		{"seed", "inception_v3", want{size: 224, views: 3, epochs1: 3, epochs2: 10, members: 1, lr2: 1e-4}},
		{"tuned", "inception_v3", want{299, 4, 8, 8, 1, "conv2d_73", []int{299, 331, 363}, 1e-3, 0.5, 0.995, 0.2, true, true}},
		{"tuned", "", want{299, 4, 8, 8, 1, "conv2d_73", []int{299, 331, 363}, 1e-3, 0.5, 0.995, 0.2, true, true}},
		// Layer names and sizes are InceptionV3's: another backbone keeps its own.
		{"tuned", "mobilenet_v2_035", want{224, 8, 5, 14, 1, "", nil, 1e-3, 0.5, 0.995, 0.2, false, true}},
		{"fast", "inception_v3", want{235, 2, 8, 8, 1, "conv2d_73", []int{235}, 1e-3, 0.5, 0.995, 0.2, true, true}},
		{"fast", "resnet50", want{224, 2, 5, 14, 1, "", nil, 1e-3, 0.5, 0.995, 0.2, false, true}},
		{"max", "inception_v3", want{299, 4, 8, 8, 3, "conv2d_73", []int{299, 331, 363}, 1e-3, 0.5, 0.995, 0.2, true, true}},
	} {
		t.Run(tc.recipe+"/"+tc.backbone, func(t *testing.T) {
			r, err := RecipeNamed(tc.recipe)
			if err != nil {
				t.Fatal(err)
			}
			c := Config{Backbone: tc.backbone, Size: 224, CacheFeatures: 3, Epochs1: 3, Epochs2: 10, LR2: 1e-4, Augment: &data.Augment{}}
			r.Apply(&c)
			got := want{c.Size, c.CacheFeatures, c.Epochs1, c.Epochs2, r.Members, c.UnfreezeFrom, c.TestSizes,
				c.LR2, c.Head.Dropout, c.EMA, c.Mixup, c.TrainBF16, c.Augment.VerticalFlip}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
	// Applying one recipe leaves the others as they were.
	fast, _ := RecipeNamed("fast")
	var c Config
	fast.Apply(&c)
	tuned, _ := RecipeNamed("tuned")
	c = Config{}
	tuned.Apply(&c)
	if c.Size != 299 || c.CacheFeatures != 4 || !slices.Equal(c.TestSizes, []int{299, 331, 363}) {
		t.Errorf("tuned after fast: size %d, views %d, test sizes %v", c.Size, c.CacheFeatures, c.TestSizes)
	}
	// Without augmentation a recipe adds none.
	c = Config{}
	tuned.Apply(&c)
	if c.Augment != nil {
		t.Error("tuned gave a Config without augmentation some")
	}
	if _, err := RecipeNamed("bogus"); err == nil {
		t.Error("an unknown recipe was found")
	}
	if n := len(Recipes()); n != 4 {
		t.Errorf("%d recipes, want seed, tuned, fast and max", n)
	}
}

// The tuned preset for the default backbone, as trashsort run trains it;
// settings set after Apply win over the recipe's.
func ExampleRecipe_Apply() {
	r, err := RecipeNamed("tuned")
	if err != nil {
		panic(err)
	}
	c := Config{Augment: &data.Augment{HorizontalFlip: true}}
	r.Apply(&c)
	c.Epochs2 = 4 // the caller's own choice
	fmt.Println(c.Size, c.TestSizes, c.Epochs1, c.Epochs2, c.UnfreezeFrom, c.Augment.VerticalFlip)
	// Output: 299 [299 331 363] 8 4 conv2d_73 true
}
