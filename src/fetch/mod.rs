//! The fetch layer: one HTTP client, retries, revalidation and the content-addressed cache.
