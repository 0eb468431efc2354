"""previewbot core: model, store, Kubernetes, Helm, GitLab, reconcile, scheduler."""
