"""segviewer.methods"""
