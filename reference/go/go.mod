module stream

go 1.19
