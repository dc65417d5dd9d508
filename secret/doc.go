// Package secret names secrets by reference: a file path or an environment
// variable name, resolved where the secret is used (a command's flag
// parsing, a DoFn's Setup on the worker), never a value carried in argv, in
// a serialized DoFn or in a pipeline graph.
//
// A Ref is written "file:PATH" or "env:NAME" on the command line and in
// configuration; its String form is the reference itself, so printing or
// logging a Ref never shows the secret.
package secret
