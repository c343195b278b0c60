module github.com/rubengp99/go-pool/examples

go 1.26.0

require (
	github.com/rubengp99/go-pool v0.0.0
	go.uber.org/goleak v1.3.0
)

replace github.com/rubengp99/go-pool => ..
