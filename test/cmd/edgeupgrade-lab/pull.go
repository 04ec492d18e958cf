package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/edgeupgrade/kubectl-edgeupgrade/test/lab"
)

// pullFlags set the image pull model of the simulator (up and set): per-node link
// speeds, a distribution over the workers, and the images' sizes.
type pullFlags struct {
	linkSpeed      []string
	linkSpeeds     string
	imageSize      string
	preprocessSize string
}

func (p *pullFlags) add(f *pflag.FlagSet) {
	f.StringArrayVar(&p.linkSpeed, "link-speed", nil, "NODE=SPEED: the node's link speed (1Mbit, 512kbit, 1Gbit); an image missing on it pulls in size ÷ speed; repeatable")
	f.StringVar(&p.linkSpeeds, "link-speeds", "", "link speeds of the workers as shares, e.g. 10%=1Mbit,60%=10Mbit,30%=100Mbit (spread by a hash of the names)")
	f.StringVar(&p.imageSize, "image-size", "", "compressed size of the upgrade image, e.g. 64Mi (empty: pulls take no time)")
	f.StringVar(&p.preprocessSize, "preprocess-image-size", "", "compressed size of the preprocess image, e.g. 8Mi")
}

// apply sets what was given, the distribution first so --link-speed overrides it.
func (p *pullFlags) apply(ctx context.Context, l *lab.Lab, out io.Writer) error {
	var errs []error
	if p.linkSpeeds != "" {
		shares, err := lab.ParseLinkSpeeds(p.linkSpeeds)
		if err == nil {
			err = l.SetLinkSpeeds(ctx, l.Topology.Workers(), shares)
		}
		errs = append(errs, err)
	}
	for _, s := range p.linkSpeed {
		node, speed, ok := strings.Cut(s, "=")
		if !ok {
			errs = append(errs, fmt.Errorf("--link-speed %q: want NODE=SPEED such as edge-a-001=1Mbit", s))
			continue
		}
		errs = append(errs, l.SetLinkSpeed(ctx, node, speed))
	}
	if p.imageSize != "" || p.preprocessSize != "" {
		errs = append(errs, l.SetImageSizes(ctx, p.imageSize, p.preprocessSize))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if p.linkSpeeds != "" || len(p.linkSpeed) > 0 || p.imageSize != "" {
		_, err := fmt.Fprintf(out, "image pulls: links %s %s, upgrade image %s, preprocess image %s\n",
			p.linkSpeeds, strings.Join(p.linkSpeed, " "), p.imageSize, p.preprocessSize)
		return err
	}
	return nil
}
