"""Fuzzing every gRPC method and every webhook of a private local stack (issue 7)."""
