module github.com/edgeupgrade/kubectl-edgeupgrade/test/real

go 1.26
