"""Downloads of stored attachments for signed-in users who may see a case that holds them."""
