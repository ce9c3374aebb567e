"""What a brand sells: products (SPU), variants (SKU), categories, seasons, images and imports."""
