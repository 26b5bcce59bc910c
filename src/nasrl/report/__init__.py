"""Read-only views of run folders: HTML reports (`html`, `figures`), run listings (`runs`), TensorBoard scalars."""
