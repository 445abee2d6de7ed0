// Package apiclient is q2o-cli's typed client of the public API, generated
// from api/openapi.yaml by oapi-codegen (client.gen.go, from the operations
// oapi-codegen.yaml lists): a route, parameter or field the document drops
// or renames no longer compiles in the CLI. TestGenerated fails when
// client.gen.go is not what the document gives today. answers.go, by hand,
// names each read operation's success body.
package apiclient

//go:generate go tool oapi-codegen -config oapi-codegen.yaml -o client.gen.go ../../../../api/openapi.yaml
