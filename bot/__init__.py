"""previewbot core, one folder per role; see docs/architecture.md."""
