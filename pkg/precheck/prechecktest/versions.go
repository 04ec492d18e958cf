package prechecktest

import (
	"errors"
	"strconv"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// versionConfigMaps makes the fake clientset keep ConfigMaps as the API server does:
// every write gets a new resourceVersion, and an update carrying another version than
// the stored one is a Conflict. The state store's optimistic concurrency, and a
// command's wait to see its own write in its watch cache, depend on it; the plain fake
// leaves every resourceVersion empty, so a stale copy would silently win.
func versionConfigMaps(cs *fake.Clientset) {
	var mu sync.Mutex
	last := 0
	next := func() string {
		mu.Lock()
		defer mu.Unlock()
		last++
		return strconv.Itoa(last)
	}
	gvr := corev1.SchemeGroupVersion.WithResource("configmaps")
	tracker := cs.Tracker()
	cs.PrependReactor("create", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		cm := a.(k8stesting.CreateAction).GetObject().(*corev1.ConfigMap).DeepCopy()
		cm.ResourceVersion = next()
		if err := tracker.Create(gvr, cm, a.GetNamespace()); err != nil {
			return true, nil, err
		}
		return true, cm.DeepCopy(), nil
	})
	cs.PrependReactor("update", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		cm := a.(k8stesting.UpdateAction).GetObject().(*corev1.ConfigMap).DeepCopy()
		cur, err := tracker.Get(gvr, a.GetNamespace(), cm.Name)
		if err != nil {
			return true, nil, err
		}
		if cm.ResourceVersion != "" && cm.ResourceVersion != cur.(*corev1.ConfigMap).ResourceVersion {
			return true, nil, apierrors.NewConflict(gvr.GroupResource(), cm.Name, errors.New("the object has been modified; please apply your changes to the latest version and try again"))
		}
		cm.ResourceVersion = next()
		if err := tracker.Update(gvr, cm, a.GetNamespace()); err != nil {
			return true, nil, err
		}
		return true, cm.DeepCopy(), nil
	})
}
