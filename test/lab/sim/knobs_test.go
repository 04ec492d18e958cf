package sim

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestKnobs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ann     map[string]string
		want    Knobs
		wantErr bool
	}{
		{name: "none"},
		{name: "fail", ann: map[string]string{AnnotationFail: "disk full"}, want: Knobs{Fail: "disk full"}},
		{name: "fail preprocess", ann: map[string]string{AnnotationFail: "preprocess: swap is on"}, want: Knobs{Fail: "swap is on", FailPreprocess: true}},
		{name: "fail without message", ann: map[string]string{AnnotationFail: ""}, want: Knobs{Fail: "simulated failure"}},
		{name: "hang", ann: map[string]string{AnnotationHang: "true"}, want: Knobs{Hang: true}},
		{name: "duration", ann: map[string]string{AnnotationJobDuration: "1.5s"}, want: Knobs{Duration: 1500 * time.Millisecond}},
		{name: "not ready for good", ann: map[string]string{AnnotationNotReadyDuring: "true"}, want: Knobs{NotReadyDuring: true}},
		{name: "not ready blip", ann: map[string]string{AnnotationNotReadyDuring: "5s"}, want: Knobs{NotReadyDuring: true, NotReadyFor: 5 * time.Second}},
		{name: "bad hang", ann: map[string]string{AnnotationHang: "yes please"}, wantErr: true},
		{name: "bad duration", ann: map[string]string{AnnotationJobDuration: "soon"}, wantErr: true},
		{name: "bad not ready", ann: map[string]string{AnnotationNotReadyDuring: "-1s"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Annotations: tc.ann}}
			got, err := KnobsOf(n)
			if (err != nil) != tc.wantErr {
				t.Fatalf("KnobsOf: err %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if got != tc.want {
				t.Errorf("KnobsOf = %+v, want %+v", got, tc.want)
			}
			// Annotations is the inverse (except the defaulted empty message).
			ann := map[string]string{}
			for k, v := range got.Annotations() {
				if v != nil {
					ann[k] = *v
				}
			}
			back, err := KnobsOf(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Annotations: ann}})
			if err != nil || back != got {
				t.Errorf("round trip: %+v (err %v), want %+v", back, err, got)
			}
		})
	}
}

func TestStatusBuilders(t *testing.T) {
	node := &corev1.Node{Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.1.0.9"}}}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{UID: "u1"},
		Spec: corev1.PodSpec{
			HostNetwork:    true,
			InitContainers: []corev1.Container{{Name: "preprocess", Image: "i"}},
			Containers:     []corev1.Container{{Name: "upgrade", Image: "i"}},
		},
		Status: corev1.PodStatus{QOSClass: corev1.PodQOSBestEffort},
	}
	run := runningStatus(pod, node)
	if run.Phase != corev1.PodRunning || run.PodIP != "10.1.0.9" || run.ContainerStatuses[0].State.Running == nil ||
		run.InitContainerStatuses[0].State.Terminated == nil {
		t.Errorf("running status: %+v", run)
	}
	pod.Status = run
	failed := failedStatus(pod, node, "boom")
	if st := failed.ContainerStatuses[0].State.Terminated; failed.Phase != corev1.PodFailed || st == nil || st.ExitCode != 1 || st.Message != "boom" {
		t.Errorf("failed status: %+v", failed)
	}
	pre := failedPreprocessStatus(pod, node, "swap")
	if st := pre.InitContainerStatuses[0].State.Terminated; pre.Phase != corev1.PodFailed || st == nil || st.ExitCode != 1 ||
		st.Message != "swap" || pre.ContainerStatuses[0].State.Waiting == nil {
		t.Errorf("preprocess failed status: %+v", pre)
	}
	ok := succeededStatus(pod, node, "")
	if st := ok.ContainerStatuses[0].State.Terminated; ok.Phase != corev1.PodSucceeded || st == nil || st.ExitCode != 0 {
		t.Errorf("succeeded status: %+v", ok)
	}
}
