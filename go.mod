module trashsort

go 1.26
