# End-to-end suite and demo on the simulated lab (docs/lab.md; binaries from lab-tools).

.PHONY: e2e demo
e2e: lab-tools ## end-to-end tests of the docs/design.md §2 rules and the pre-check, through the plugin binary, in the lab
	cd test && EDGEUPGRADE_LAB_REQUIRED=1 $(GO) test -count=1 -timeout 40m -v ./e2e

demo: lab-tools ## start a lab (3 masters, 60 edge workers in 3 pools, 1 cloud pool), check, upgrade, show, stop
	@hack/demo.sh

TEST_SUITES += e2e
