//! Loading an image into the engine: a docker-archive stream through
//! `POST /images/load` (bollard's `import_image_stream`, which streams the body instead
//! of buffering it as `import_image` does).
