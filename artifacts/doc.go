// Package artifacts owns the output storage of q2o: where a project's output
// folder and its zips live, and how a client's zip is made.
//
// What it promises:
//
//   - Paths are built only from canonical UUIDs (ProjectDir, ZipPath), so no id
//     can reach outside OUTPUT_ROOT. The zips sit in OUTPUT_ROOT/_artifacts,
//     outside every output folder, so one zip never contains another.
//   - WriteZip never puts anything from outside the output folder into a zip:
//     symlinks are never followed at any depth, files with more than one hard
//     link are left out, and every entry is opened relative to its already
//     opened parent directory with O_NOFOLLOW and checked again on the open
//     descriptor, so swapping a path for a symlink while the zip is written
//     gains nothing. Dotfiles and dot-folders, __pycache__, *.pyc, the
//     top-level run.log and anything that is neither a regular file nor a
//     directory are left out as well (see Included).
//   - A zip appears at its path complete or not at all: it is written to a
//     temporary file beside it and renamed into place; on error or
//     cancellation the temporary file is removed.
//   - Memory stays bounded whatever the size of the output: file contents are
//     streamed through a fixed number of chunks deflated in parallel, and the
//     size and SHA-256 of the zip are computed while it is written.
//   - The same tree gives the same zip: entries come in lexical walk order.
package artifacts
