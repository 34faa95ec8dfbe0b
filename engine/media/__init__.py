"""Media I/O: reading plates and mattes, colour conversion, resizing, and publishing versioned EXR
outputs with OTIO files. Needs numpy and OpenImageIO; never torch."""
from .colour import ColourTransform
from .exr_write import write_exr
from .image_read import ImageInfo, read_image, read_image_info, read_matte
from .otio_export import write_otio
from .resize import resize_image
from .sequence_read import check_sequence, read_sequence
from .versioning import VersionedOutput, existing_versions
from .window import Window

__all__ = [
    "ColourTransform", "ImageInfo", "VersionedOutput", "Window", "check_sequence", "existing_versions",
    "read_image", "read_image_info", "read_matte", "read_sequence", "resize_image", "write_exr",
    "write_otio",
]
