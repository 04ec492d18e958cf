package main

import (
	"fmt"
	"io"
	"path"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newCmdSizes(out io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "sizes ARCHIVE...",
		Short: "Print each layer's compressed and uncompressed size, per image and platform",
		Long: "Print, for every image and platform of the archives, each layer's main file, its compressed size " +
			"(what a node pulls), its uncompressed size and its compression, and each platform's total: what staging " +
			"moves over an edge link.",
		Example: "  edgeupgrade-image sizes dist/images/upgrade_v1.36.3.tar dist/images/node-preprocess_v0.4.0.tar",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			for _, a := range args {
				ins, err := inspectArchive(a)
				if err != nil {
					return err
				}
				if err := printSizes(out, path.Base(a), ins); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// printSizes writes one table per archive: a row per layer, a total per platform.
func printSizes(out io.Writer, name string, ins Inspection) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintf(tw, "%s\nPLATFORM\tLAYER\tCONTENT\tCOMPRESSED\tUNCOMPRESSED\tCOMPRESSION\n", name)
	for _, img := range ins.Images {
		var packed, unpacked int64
		for i, l := range img.Layers {
			raw := layerContentSize(l)
			packed, unpacked = packed+l.Size, unpacked+raw
			_, _ = fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", img.Platform, i+1, layerContent(l), size(l.Size), size(raw), compression(l.MediaType))
		}
		_, _ = fmt.Fprintf(tw, "%s\ttotal\t%d layers\t%s\t%s\t\n", img.Platform, len(img.Layers), size(packed), size(unpacked))
	}
	_, _ = fmt.Fprintln(tw)
	return tw.Flush()
}

// layerContent names a layer by its largest file, with the count of the others.
func layerContent(l InspectLayer) string {
	var big InspectFile
	files := 0
	for _, f := range l.Files {
		if f.Size == 0 && f.Link == "" {
			continue // directories
		}
		files++
		if f.Size >= big.Size {
			big = f
		}
	}
	switch files {
	case 0:
		return "(directories)"
	case 1:
		return big.Path
	}
	return fmt.Sprintf("%s and %d more", big.Path, files-1)
}

func layerContentSize(l InspectLayer) int64 {
	var n int64
	for _, f := range l.Files {
		n += f.Size
	}
	return n
}

// compression is the media type's compression suffix (gzip, zstd, or none).
func compression(mediaType string) string {
	for _, c := range []string{"zstd", "gzip"} {
		if strings.HasSuffix(mediaType, c) {
			return c
		}
	}
	return "none"
}

// size writes n in B, KiB or MiB (MiB with one decimal: image layers are tens of MiB).
func size(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
