"""注册管理: the registration of registered safety engineers, from qualification to renewal."""
